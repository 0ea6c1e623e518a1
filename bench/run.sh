#!/usr/bin/env bash
# Builds the release server and the load driver, then runs every scenario of docs/performance.md
# against a fresh server each (new temp data dir, free loopback port), prints the results and
# stops everything it started.
#
#   bench/run.sh                      # all scenarios
#   bench/run.sh list messages        # some of them: list history create messages followers first-token
#   RUNTIMES="native cloudflare" bench/run.sh list history
#                                     # each scenario on each runtime, one after the other
#
# Settings (environment):
#   DURATION=10s WARMUP=2s            measured time and warm-up of the timed scenarios
#   LIST_CONNECTIONS=64               connections of list and create
#   MESSAGES_USERS="16 32 64"         one messages run per number of users
#   FOLLOWERS=10000                   live followers
#   FIRST_TOKEN_DURATION=10s          measured time of first-token
#   PIN=0                             1: server on core 0, driver on core 1 (taskset)
#   REPEAT=1                          runs of each scenario (the figures vary from run to run)
#   QUIET_WAIT=120                    seconds to wait for the rest of the machine to go idle
#   SKIP_BUILD=0                      1: use the binaries already built in BIN_DIR
#   BIN_DIR=target/release            where alleato and alleato-load are
#   RUNTIMES=native                   native and/or cloudflare (the Worker in local workerd, built
#                                     by `scripts/worker --build-only`; no memory figures there)
#   HISTORY=40                        messages in each chat that history reads (20 per page)
#   SERVER_ENV=""                     extra VAR=value settings for the server, for experiments
#                                     (e.g. "MALLOC_MMAP_THRESHOLD_=131072"); see docs/performance.md
set -euo pipefail

cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
LIST_CONNECTIONS=${LIST_CONNECTIONS:-64}
MESSAGES_USERS=${MESSAGES_USERS:-"16 32 64"}
FOLLOWERS=${FOLLOWERS:-10000}
FIRST_TOKEN_DURATION=${FIRST_TOKEN_DURATION:-10s}
PIN=${PIN:-0}
REPEAT=${REPEAT:-1}
QUIET_WAIT=${QUIET_WAIT:-120}
SKIP_BUILD=${SKIP_BUILD:-0}
BIN_DIR=${BIN_DIR:-target/release}
read -r -a RUNTIME_LIST <<<"${RUNTIMES:-native}"
HISTORY=${HISTORY:-40}
read -r -a EXTRA_ENV <<<"${SERVER_ENV:-}"

SCENARIOS=("$@")
if [ ${#SCENARIOS[@]} -eq 0 ]; then
    SCENARIOS=(list history create messages followers first-token)
fi

if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release --bin alleato --bin alleato-load
    BUILT="built from commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' with uncommitted changes')"
else
    BUILT="prebuilt binaries from $BIN_DIR"
fi

# Private copies of the binaries: the target directory is shared, and a rebuild by anyone else
# must not swap the server under a running benchmark.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/alleato-bench.XXXXXX")
cp "$BIN_DIR/alleato" "$BIN_DIR/alleato-load" "$WORK/"
LOAD="$WORK/alleato-load"
RESULTS="$WORK/results.jsonl"
SUMMARY="$WORK/summary.txt"
: >"$RESULTS"
: >"$SUMMARY"

# 10,000 followers need 10,000 sockets in the server and as many in the driver.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((FOLLOWERS + 1024)) ]; then
    echo "warning: ulimit -n is $(ulimit -n), below the $((FOLLOWERS + 1024)) that $FOLLOWERS followers need" >&2
fi

SERVER_CPU=()
DRIVER_CPU=()
if [ "$PIN" = 1 ]; then
    SERVER_CPU=(taskset -c 0)
    DRIVER_CPU=(taskset -c 1)
fi

SERVER_PID=
SERVER_PORT=

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}

cleanup() {
    stop_server
    rm -rf "$WORK"/data-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (at most QUIET_WAIT seconds) until the rest of the machine uses less than a tenth of a
# core, so that other work does not skew the figures; warns when it does not.
wait_quiet() {
    local deadline=$((SECONDS + QUIET_WAIT)) busy cores
    cores=$(nproc)
    while :; do
        busy=$(awk 'NR==1 {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
        sleep 1
        busy=$(awk -v b="$busy" -v n="$cores" 'NR==1 {split(b, a, " "); db = $2+$3+$4+$7+$8+$9 - a[1]; di = $5+$6 - a[2]; printf "%.2f", db / (db + di) * n}' /proc/stat)
        if awk -v b="$busy" 'BEGIN {exit !(b < 0.1)}'; then
            return
        fi
        if [ $SECONDS -ge $deadline ]; then
            echo "warning: the machine is busy ($busy cores in use before the scenario); figures will be lower" >&2
            return
        fi
    done
}

RUNTIME=native
# The command that serves on SERVER_PORT with its data in $1, for the current RUNTIME.
server_command() {
    case "$RUNTIME" in
    native) echo "$WORK/alleato" ;;
    cloudflare) echo "bash scripts/worker --no-build --port $SERVER_PORT --state $1" ;;
    *) echo "unknown runtime $RUNTIME (native cloudflare)" >&2; exit 64 ;;
    esac
}

# start_server NAME [VAR=value…]: a fresh server with the benchmark settings.
start_server() {
    local name=$1
    shift
    SERVER_PORT=$("$LOAD" free-port)
    rm -rf "$WORK/data-$name"
    mkdir -p "$WORK/data-$name"
    local command
    read -r -a command <<<"$(server_command "$WORK/data-$name")"
    # A process group of its own (setsid), so that stopping it stops wrangler and workerd too.
    env ALLEATO_LISTEN="127.0.0.1:$SERVER_PORT" \
        ALLEATO_DATA_DIR="$WORK/data-$name" \
        ALLEATO_RATE_LIMIT_PER_MINUTE=100000000 \
        ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE=100000000 \
        ALLEATO_REGULAR_DAILY_MESSAGES=100000000 \
        ALLEATO_REGULAR_CHATS=100000000 \
        ALLEATO_REGULAR_OPEN_STREAMS=100000000 \
        ALLEATO_ECHO_DELAY_MS=0 \
        ALLEATO_RESPONSE_CACHE_TTL_SECS=0 \
        ALLEATO_LOG=warn \
        "${EXTRA_ENV[@]}" \
        "$@" \
        "${SERVER_CPU[@]}" setsid "${command[@]}" >"$WORK/server-$name.log" 2>&1 &
    SERVER_PID=$!
}

# drive SUBCOMMAND [flags…]: runs the driver against the current server and keeps its lines.
drive() {
    local out status=0
    local pid=()
    # The memory and CPU figures read /proc/<pid>: the binary's own; the Worker's script is not
    # the process that serves.
    if [ "$RUNTIME" = native ]; then
        pid=(--server-pid "$SERVER_PID")
    fi
    out=$("${DRIVER_CPU[@]}" "$LOAD" "$@" --base-url "http://127.0.0.1:$SERVER_PORT" "${pid[@]}") || status=$?
    out=$(echo "$out" | sed -e "s/^\([a-z]\)/[$RUNTIME] \1/" -e "s/^{/{\"runtime\":\"$RUNTIME\",/")
    echo "$out"
    echo "$out" | grep '^{' >>"$RESULTS" || true
    echo "$out" | grep -v '^{' >>"$SUMMARY" || true
    if [ $status -ne 0 ]; then
        echo "warning: alleato-load $1 exited with $status (errors above)" >&2
        tail -n 20 "$WORK/server-$1.log" 2>/dev/null >&2 || true
    fi
}

RUNS=()
for scenario in "${SCENARIOS[@]}"; do
    for _ in $(seq 1 "$REPEAT"); do
        for runtime in "${RUNTIME_LIST[@]}"; do
            RUNS+=("$runtime:$scenario")
        done
    done
done

for run in "${RUNS[@]}"; do
    RUNTIME=${run%%:*}
    scenario=${run#*:}
    echo "== $scenario ($RUNTIME)"
    wait_quiet
    case "$scenario" in
    list)
        start_server list
        drive list --connections "$LIST_CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
        ;;
    history)
        start_server history
        drive list --history "$HISTORY" --connections "$LIST_CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
        ;;
    create)
        start_server create
        drive create --connections "$LIST_CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
        ;;
    messages)
        for users in $MESSAGES_USERS; do
            start_server messages
            drive messages --connections "$users" --duration "$DURATION" --warmup "$WARMUP"
            stop_server
            wait_quiet
        done
        ;;
    followers)
        start_server followers
        drive followers --followers "$FOLLOWERS"
        ;;
    first-token)
        upstream=$("$LOAD" free-port)
        start_server first-token \
            ALLEATO_OPENAI_BASE_URL="http://127.0.0.1:$upstream/v1" \
            ALLEATO_OPENAI_MODELS=fake \
            ALLEATO_DEFAULT_MODEL=echo
        drive first-token --upstream-listen "127.0.0.1:$upstream" --duration "$FIRST_TOKEN_DURATION" --warmup "$WARMUP"
        ;;
    *)
        echo "unknown scenario $scenario (list history create messages followers first-token)" >&2
        exit 64
        ;;
    esac
    stop_server
done

echo
echo "== results ($(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $BUILT, PIN=$PIN${SERVER_ENV:+, SERVER_ENV=$SERVER_ENV})"
cat "$SUMMARY"
echo
echo "JSON lines: $RESULTS"
