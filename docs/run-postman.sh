#!/usr/bin/env bash
# Run the Postman collection with newman against a live API; exits non-zero if any test fails.
#
#   docs/run-postman.sh [BASE_URL]       a running server (default http://localhost:8080),
#                                        which must use CODE_DELIVERY=chat
#   docs/run-postman.sh --start-server   start `main.py api` on a free local port (chat delivery,
#                                        a throwaway DATA_DIR unless DATABASE_URL is set), run the
#                                        collection against it, then stop it
#
# Needs node (npx fetches newman 6 from the npm registry on first use).
set -euo pipefail

docs=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$docs")
collection="$docs/referral.postman_collection.json"

run_collection() {
  npx --yes newman@6 run "$collection" --env-var "baseUrl=$1" --color off
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [[ "${1:-}" != "--start-server" ]]; then
  run_collection "${1:-http://localhost:8080}"
  exit
fi

port=$(free_port)
base_url="http://127.0.0.1:$port"
data_dir=$(mktemp -d)
log="$data_dir/server.log"
(
  cd "$root"
  export WEB_HOST=127.0.0.1 WEB_PORT="$port" DATA_DIR="$data_dir"
  export CODE_DELIVERY=chat CODE_CHAT_DELAY=0 LOG_LEVEL=INFO
  exec uv run python main.py api
) >"$log" 2>&1 &
server=$!

stop_server() {
  # SIGTERM lets main.py finish in-flight requests and stop its embedded PostgreSQL.
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$data_dir"
}
trap stop_server EXIT

echo "starting main.py api on $base_url"
for _ in $(seq 1 600); do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "main.py api exited during start-up:" >&2
    cat "$log" >&2
    exit 1
  fi
  if curl --silent --fail --max-time 2 "$base_url/healthz" >/dev/null; then
    break
  fi
  sleep 0.2
done
if ! curl --silent --fail --max-time 2 "$base_url/healthz" >/dev/null; then
  echo "main.py api did not answer /healthz in time:" >&2
  cat "$log" >&2
  exit 1
fi

status=0
run_collection "$base_url" || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- server log ---" >&2
  cat "$log" >&2
fi
exit "$status"
