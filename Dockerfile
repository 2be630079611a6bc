# The bot and the HTTP API in one image; PostgreSQL comes from DATABASE_URL (see docker-compose.yml).
FROM python:3.11-slim

COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

COPY . .
RUN useradd --create-home --uid 10001 referral && mkdir -p /app/.data && chown referral /app/.data
USER referral
# matplotlib (the /stats chart) builds its font cache once, here rather than at an operator's first chart.
RUN python -c "import matplotlib.font_manager"

ENV WEB_HOST=0.0.0.0 WEB_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["python", "main.py"]
