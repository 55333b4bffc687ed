#!/usr/bin/env bash
# What request ids, metrics and the structured access log cost: scenario (a) of bench/run.sh
# (GET /user_details/ with a valid token, wrk -t2 -c32, bench/lua/bearer.lua) against two
# Fake Social Sites from the same release binary, one observing its requests (the default,
# metrics served on METRICS_BIND) and one with OBSERVE_REQUESTS=false (the plain access
# log), in alternating rounds of one run. Writes bench/results/observe-cost-<date>.md and the
# latency plot docs/bench-latency.png (matplotlib, in a virtual environment under the target
# directory).
#
# Usage: bench/observe-cost.sh [--no-build] [--duration SECONDS] [--runs N]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
TOOLS=$BENCH/tools/bench.py
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release
CLIENT_ID=ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d
BUILD=1
DURATION=10
WARMUP=3
RUNS=3
TOKENS=16

die() {
    echo "bench/observe-cost.sh: $*" >&2
    exit 1
}

while [[ $# -gt 0 ]]; do
    case $1 in
    --no-build) BUILD=0 ;;
    --duration) DURATION=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown option: $1" ;;
    esac
    shift
done
for tool in wrk python3 curl; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

# matplotlib for the plot, in its own virtual environment (nothing goes into the system's).
plot_python() {
    local venv=$TARGET/bench-venv
    if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
        { python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q matplotlib >&2; } ||
            die "cannot install matplotlib into $venv"
    fi
    echo "$venv/bin/python"
}

if ((BUILD)); then
    (cd "$ROOT" && cargo build --release -p fake-social-site)
fi
[[ -x $BIN/fake-social-site ]] || die "$BIN/fake-social-site is missing: run without --no-build"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/observe-cost.XXXXXX")
mkdir -p "$WORK/runs"
cp -p "$BIN/fake-social-site" "$WORK/"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() {
    printf '[%s] %s\n' "$(date +%T)" "$*"
}

# start NAME ENV...: a Fake Social Site on a free port over its own copy of the fixtures;
# sets PORT and PID.
start() {
    local name=$1 db=$WORK/$1.sqlite3 out
    shift
    env -i "PATH=$PATH" RUST_LOG=warn "$WORK/fake-social-site" --database "$db" \
        loaddata "$ROOT/fixtures/fake-social-site.json" "$BENCH/fixtures/bench-users.json" >/dev/null
    PORT=$(python3 "$TOOLS" free-port)
    out=$(python3 "$TOOLS" spawn --log "$WORK/$name.log" --port "$PORT" --path /healthz -- \
        env -i "PATH=$PATH" RUST_LOG=warn "$@" "$WORK/fake-social-site" --database "$db" \
        serve --bind "127.0.0.1:$PORT")
    PID=${out%% *}
    PIDS+=("$PID")
}

# tokens PORT FILE: $TOKENS access tokens of the bench users (password grants).
tokens() {
    local i user
    : >"$2"
    for ((i = 1; i <= TOKENS; i++)); do
        user=bench$(((i - 1) % 64 + 1))
        curl -fsS -d "grant_type=password&username=$user&password=bench-password&client_id=$CLIENT_ID" \
            "http://127.0.0.1:$1/o/token/" | sed -E 's/.*"access_token":"([^"]+)".*/\1/' >>"$2"
        echo >>"$2"
    done
}

METRICS_PORT=$(python3 "$TOOLS" free-port)
start on "METRICS_BIND=127.0.0.1:$METRICS_PORT"
ON_PORT=$PORT
start off OBSERVE_REQUESTS=false
OFF_PORT=$PORT
say "observed: :$ON_PORT (metrics :$METRICS_PORT), plain: :$OFF_PORT; getting $TOKENS tokens each"
tokens "$ON_PORT" "$WORK/on-tokens.txt"
tokens "$OFF_PORT" "$WORK/off-tokens.txt"

run() { # NAME KIND ROUND SECONDS
    local port
    port=$([[ $1 == on ]] && echo "$ON_PORT" || echo "$OFF_PORT")
    wrk -t2 -c32 -d"${4}s" --latency -s "$BENCH/lua/bearer.lua" \
        "http://127.0.0.1:$port/user_details/" "$WORK/$1-tokens.txt" >"$WORK/runs/$1.$2.$3.txt" 2>&1 ||
        die "wrk failed: $(cat "$WORK/runs/$1.$2.$3.txt")"
    grep '^BENCH ' "$WORK/runs/$1.$2.$3.txt" | cut -c1-120
}

say "warm-up (${WARMUP} s each)"
run on warmup 0 "$WARMUP" >/dev/null
run off warmup 0 "$WARMUP" >/dev/null
for ((round = 1; round <= RUNS; round++)); do
    # Alternating which goes first, so neither always runs on a machine warmed by the other.
    if ((round % 2)); then order=(on off); else order=(off on); fi
    for name in "${order[@]}"; do
        say "round $round: $name"
        run "$name" run "$round" "$DURATION"
    done
done

scraped=$(curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" |
    grep -E '^http_requests_total\{.*route="/user_details/"' || true)
PY=$(plot_python)
mkdir -p "$ROOT/docs"
RESULT=$BENCH/results/observe-cost-$(date -u +%Y-%m-%d-%H%M).md
table=$("$PY" "$BENCH/tools/plot.py" "$WORK/runs" "$ROOT/docs/bench-latency.png" \
    --title "Scenario (a): GET /user_details/, wrk -t2 -c32, $(nproc) cores" \
    --label "on=observed (request ids, metrics)" --label "off=OBSERVE_REQUESTS=false")
{
    echo "# What observing requests costs: scenario (a), $(date -u '+%F %H:%M') UTC"
    echo
    echo "Command: \`bench/observe-cost.sh $*\`. One release binary (commit $(git -C "$ROOT" rev-parse --short HEAD)), two Fake Social Sites, alternating rounds of ${DURATION} s (medians of $RUNS), after a ${WARMUP} s warm-up each; wrk -t2 -c32 --latency with bench/lua/bearer.lua over $TOKENS tokens, on the same $(nproc) cores as the services."
    echo
    echo "$table"
    echo
    echo "The observed service's own count of these requests (its /metrics, warm-up included):"
    echo
    echo '```'
    echo "$scraped"
    echo '```'
    echo
    echo "Plot: docs/bench-latency.png."
} >"$RESULT"
cat "$RESULT"
