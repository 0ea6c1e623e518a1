#!/usr/bin/env bash
# The stream flood of issue 10, repeated against the release binary: one guest appends 290
# events of 1 MiB to one stream, then creates streams and chats as fast as it can for 10 s.
# Reports the server's RSS before and after, and how many writes the per-user caps refused.
# Not a test: a measurement (target: RSS growth under 50 MiB). Record the figure in
# docs/performance.md.
#
#   cargo build --release --bin alleato && bench/stream-flood.sh
#
# ALLEATO_BIN names another binary. Needs python3 and Linux (/proc).
set -euo pipefail

cd "$(dirname "$0")/.."
BIN="${ALLEATO_BIN:-target/release/alleato}"
[ -x "$BIN" ] || { echo "$BIN is missing: run \`cargo build --release --bin alleato\` first" >&2; exit 2; }

dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ALLEATO_LISTEN="127.0.0.1:$port" ALLEATO_DATA_DIR="$dir/data" ALLEATO_LOG=error \
  ALLEATO_RATE_LIMIT_PER_MINUTE=100000000 ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE=100000000 \
  ALLEATO_JWT_SECRET="stream-flood-secret-0123456789abcdefghijklmnopqrstuv" "$BIN" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$dir"' EXIT

python3 - "$port" "$server" <<'PY'
import json, sys, time, urllib.error, urllib.request

port, pid = int(sys.argv[1]), int(sys.argv[2])
base = f"http://127.0.0.1:{port}"

def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def call(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")

deadline = time.monotonic() + 30
while True:
    try:
        if call("GET", "/health")[0] == 200:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("the server did not start")
    time.sleep(0.1)

before = rss_mib()
token = call("POST", "/api/v1/auth/guest")[1]["accessToken"]
stream = call("POST", "/api/v1/streams", {}, token)[1]["stream"]["id"]
payload = "x" * (1024 * 1024 - 64)
appended, refused = 0, {}
for _ in range(290):
    status, body = call("POST", f"/api/v1/streams/{stream}/append", {"data": payload}, token)
    if status == 200:
        appended += 1
    else:
        refused[body.get("code", status)] = refused.get(body.get("code", status), 0) + 1
streams = chats = 0
end = time.monotonic() + 10
while time.monotonic() < end:
    streams += call("POST", "/api/v1/streams", {}, token)[0] == 201
    chats += call("POST", "/api/v1/chats", {}, token)[0] == 201
after = rss_mib()
print(f"appends of 1 MiB: {appended} accepted, refused: {refused}")
print(f"in 10 s: {streams} streams and {chats} chats created")
print(f"RSS: {before:.1f} MiB -> {after:.1f} MiB (growth {after - before:.1f} MiB; target < 50)")
PY
