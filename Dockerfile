# The bot, the HTTP API and the web app in one image. PostgreSQL comes from DATABASE_URL, or is
# the embedded one, kept in the /data volume with the generated secret (see docker-compose.yml).
#
#   docker build -t referral-bot .                         # on the official python:3.11-slim
#   podman build --build-arg BASE=localhost/debian:bookworm --secret id=ca,src=CA.pem ...
#                                                          # on a bare Debian: how CI builds and runs it (.ci/container)
#
# Stop: SIGTERM, and 45 s before SIGKILL (docker/podman run --stop-timeout 45, compose's
# stop_grace_period, Kubernetes' terminationGracePeriodSeconds): the program gives requests in
# flight 30 s, then closes the database and the bot session and exits 0.
ARG BASE=python:3.11-slim

# The base's own Python when it has one (the official image); a bare Debian gets Debian's python3
# (3.11 on bookworm) and CA certificates. Either way it must be 3.11 or newer.
FROM ${BASE} AS base
# On every stage, so that a machine building often can prune this image's old build caches.
LABEL org.opencontainers.image.title=referral-bot
RUN --mount=type=cache,target=/var/cache/apt \
    --mount=type=cache,target=/var/lib/apt/lists \
    if ! command -v python3 >/dev/null; then \
        apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3 ca-certificates >/dev/null; \
    fi \
    && python3 -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else f"the base image has Python {v[0]}.{v[1]}; the program needs 3.11 or newer")'

# uv from PyPI at a pinned version installs the locked dependencies into /opt/venv, on the base's
# Python; its download cache is a build cache mount, never a layer. A CA bundle passed as the
# secret `ca` is trusted for this stage's downloads only (for a TLS-intercepting proxy).
FROM base AS build
ARG UV_VERSION=0.13.10
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=cache,target=/var/cache/apt \
    --mount=type=cache,target=/var/lib/apt/lists \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    if ! python3 -m pip --version >/dev/null 2>&1; then \
        apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3-pip >/dev/null; \
    fi \
    && python3 -m pip install --quiet --no-cache-dir --target /opt/uv "uv==${UV_VERSION}"
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    /opt/uv/bin/uv sync --locked --no-dev --no-install-project --python "$(command -v python3)"

FROM base
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin referral \
    && mkdir /data && chown referral:referral /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    DATA_DIR=/data WEB_HOST=0.0.0.0 WEB_PORT=8080
WORKDIR /app
# The program only (.dockerignore keeps out tests, docs, CI, bench and caches),
# owned by root and compiled here, since the program's user may not write to it.
COPY . .
RUN python -m compileall -q /app
USER referral
# matplotlib (the /stats chart) builds its font cache once, here rather than at an operator's first chart.
RUN python -c "import matplotlib.font_manager"

# The embedded database and the generated secret: without SECRET_KEY, recreating the container
# without this volume would sign every member out.
VOLUME /data
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('WEB_PORT') or '8080'), timeout=4)"]
ENTRYPOINT ["python", "main.py"]
CMD ["bot"]
