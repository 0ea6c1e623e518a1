#!/usr/bin/env bash
# Runs the AI SDK compatibility check (check.mjs) with Node.
#
# With ALLEATO_BASE_URL set, checks that server. Without it, starts the release binary
# (${ALLEATO_BIN:-<repo>/target/release/alleato}) on a free loopback port with a fresh data dir,
# waits for /health, runs the check and stops the server on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

# Install the pinned packages when node_modules is missing or older than the lock file.
stamp="node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "package-lock.json" -nt "$stamp" || "package.json" -nt "$stamp" ]]; then
  npm ci --no-audit --no-fund
fi

server_pid=""
data_dir=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n "$data_dir" ]]; then
    rm -rf "$data_dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "${ALLEATO_BASE_URL:-}" ]]; then
  bin="${ALLEATO_BIN:-$repo/target/release/alleato}"
  if [[ ! -x "$bin" ]]; then
    echo "no server binary at $bin: build it with 'cargo build --release --bin alleato', or set ALLEATO_BIN or ALLEATO_BASE_URL" >&2
    exit 1
  fi
  port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  data_dir="$(mktemp -d "${TMPDIR:-/tmp}/alleato-ai-sdk.XXXXXX")"
  ALLEATO_ECHO_DELAY_MS=20 \
    ALLEATO_RATE_LIMIT_PER_MINUTE=100000 \
    ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE=100000 \
    ALLEATO_LOG=warn \
    ALLEATO_LISTEN="127.0.0.1:$port" \
    ALLEATO_DATA_DIR="$data_dir" \
    "$bin" > "$data_dir/server.log" 2>&1 &
  server_pid=$!
  export ALLEATO_BASE_URL="http://127.0.0.1:$port"

  ready=""
  for _ in $(seq 1 300); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      break
    fi
    if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$ALLEATO_BASE_URL/health"; then
      ready=1
      break
    fi
    sleep 0.1
  done
  if [[ -z "$ready" ]]; then
    echo "the server did not become healthy at $ALLEATO_BASE_URL; its log:" >&2
    cat "$data_dir/server.log" >&2 || true
    exit 1
  fi
fi

status=0
output="$(mktemp "${TMPDIR:-/tmp}/alleato-ai-sdk-out.XXXXXX")"
node check.mjs | tee "$output" || status=$?
if [[ $status -ne 0 && -n "$data_dir" && -s "$data_dir/server.log" ]]; then
  echo "--- server log (last 40 lines) ---"
  tail -n 40 "$data_dir/server.log"
  # keep the check's summary the last line
  tail -n 1 "$output"
fi
rm -f "$output"
exit "$status"
