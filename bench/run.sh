#!/usr/bin/env bash
# The benchmark of Fake Social Site and My API, measured against a hello-world ceiling in the
# same run. What it measures and how to read it: bench/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/run.sh [options]

Builds the release binaries, starts Fake Social Site, My API and the ceiling on free
loopback ports with fresh databases, drives each scenario with wrk, and writes the report
to bench/results/<name>-<date>.md and bench/results/latest.md.

  --no-build           use the binaries in target/release as they are
  --duration SECONDS   length of each measured run (default 10)
  --warmup SECONDS     length of the warm-up round before the measured ones (default 3; 0: none)
  --runs N             measured runs per scenario; medians are reported (default 3)
  --seed-rows N        access-token rows stored for scenario (f) (default 1000000)
  --scenarios LIST     comma-separated subset of a,b,c,d,e,f,g,h,i (default: all)
  --fss-url URL        measure the Fake Social Site at URL instead of starting one
  --api-url URL        measure the My API at URL instead of starting one (give both)
  --database DB        sqlite (default) or postgres: the services' databases; postgres
                       starts a throwaway PostgreSQL cluster of its own (fsync on)
  --instances N        instances of each service, 1 (default) or 2 (with postgres); wrk's
                       threads are spread over them round-robin, no proxy in between
  --compare            run SQLite with 1 instance, PostgreSQL with 1 and PostgreSQL with 2 one
                       after the other (scenarios a,c,d,g unless --scenarios) and write one
                       results file with them side by side
  --name NAME          results file prefix (default: the host name, or this-machine)
  --keep               keep the scratch directory (databases, logs, raw wrk output)
  -h, --help           this text
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
TOOLS=$BENCH/tools/bench.py
LUA=$BENCH/lua
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
CLIENT_ID=ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d
OIDC_BACKEND=fake_social_site_oidc

THREADS=2
CONNECTIONS=32
STARTUP_SAMPLES=3
BCRYPT_COST=12

BUILD=1
DURATION=10
WARMUP=3
RUNS=3
SEED_ROWS=1000000
SCENARIOS=a,b,c,d,e,f,g,h,i
FSS_URL=
API_URL=
NAME=
KEEP=0
DATABASE=sqlite
INSTANCES=1
COMPARE=0
SCENARIOS_GIVEN=0
INTO=

die() {
    echo "bench/run.sh: $*" >&2
    exit 1
}

need_value() {
    [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"
}

is_count() { # NUMBER [MINIMUM]
    [[ $1 =~ ^[0-9]+$ ]] && (($1 >= ${2:-0}))
}

ARGS=("$@")
while [[ $# -gt 0 ]]; do
    case $1 in
    --no-build) BUILD=0 ;;
    --duration) need_value "$@"; DURATION=$2; shift ;;
    --warmup) need_value "$@"; WARMUP=$2; shift ;;
    --runs) need_value "$@"; RUNS=$2; shift ;;
    --seed-rows) need_value "$@"; SEED_ROWS=$2; shift ;;
    --scenarios) need_value "$@"; SCENARIOS=$2; SCENARIOS_GIVEN=1; shift ;;
    --fss-url) need_value "$@"; FSS_URL=${2%/}; shift ;;
    --api-url) need_value "$@"; API_URL=${2%/}; shift ;;
    --name) need_value "$@"; NAME=$2; shift ;;
    --keep) KEEP=1 ;;
    --database) need_value "$@"; DATABASE=$2; shift ;;
    --instances) need_value "$@"; INSTANCES=$2; shift ;;
    --compare) COMPARE=1 ;;
    # one configuration of --compare: the scratch directory to fill, and no report
    --into) need_value "$@"; INTO=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

is_count "$DURATION" 1 || die "--duration must be a whole number of seconds > 0"
is_count "$WARMUP" || die "--warmup must be a whole number of seconds"
is_count "$RUNS" 1 || die "--runs must be a number > 0"
is_count "$SEED_ROWS" || die "--seed-rows must be a number"
[[ $SCENARIOS =~ ^[a-i](,[a-i])*$ ]] || die "--scenarios takes letters a to i separated by commas"
[[ -z $FSS_URL && -z $API_URL ]] || [[ -n $FSS_URL && -n $API_URL ]] ||
    die "--fss-url and --api-url go together"
[[ $DATABASE == sqlite || $DATABASE == postgres ]] || die "--database is sqlite or postgres"
[[ $INSTANCES == 1 || $INSTANCES == 2 ]] || die "--instances is 1 or 2"
[[ $INSTANCES == 1 || $DATABASE == postgres ]] ||
    die "--instances 2 needs --database postgres (an SQLite file belongs to one process)"
LOCAL=1
[[ -z $FSS_URL ]] || LOCAL=0
((LOCAL)) || [[ $COMPARE == 0 && $DATABASE == sqlite && $INSTANCES == 1 ]] ||
    die "--database, --instances and --compare need the services this script starts (no --fss-url)"
((COMPARE == 0)) || [[ $DATABASE == sqlite && $INSTANCES == 1 && -z $INTO ]] ||
    die "--compare runs every configuration itself: leave out --database and --instances"

for tool in wrk python3; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

selected() {
    [[ ",$SCENARIOS," == *",$1,"* ]]
}

# --compare: the configurations one after the other, each a run of this script into its own
# scratch directory (built once, here), then one report of them all.
if ((COMPARE)); then
    ((SCENARIOS_GIVEN)) || SCENARIOS=a,c,d,g
    if ((BUILD)); then
        echo "building release binaries (cargo build --release -p fake-social-site -p my-api -p bench-ceiling -p bench-roundtrip)"
        (cd "$ROOT" && cargo build --release -p fake-social-site -p my-api -p bench-ceiling -p bench-roundtrip)
    fi
    COMPARE_WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")
    # shellcheck disable=SC2317  # runs from the trap
    compare_cleanup() {
        if ((KEEP)); then echo "scratch directory kept: $COMPARE_WORK"; else rm -rf "$COMPARE_WORK"; fi
    }
    trap compare_cleanup EXIT
    trap 'exit 130' INT TERM
    NAME=${NAME:-$(hostname 2>/dev/null || true)}
    NAME=$(printf '%s' "${NAME:-this-machine}" | tr -c 'A-Za-z0-9._-' '-')
    RESULT=$BENCH/results/$NAME-compare-$(date +%Y-%m-%d-%H%M).md
    pass=(--no-build --duration "$DURATION" --warmup "$WARMUP" --runs "$RUNS" --seed-rows "$SEED_ROWS"
        --scenarios "$SCENARIOS" --name "$NAME")
    dirs=()
    for config in sqlite:1 postgres:1 postgres:2; do
        dir=$COMPARE_WORK/${config/:/-}
        dirs+=(--dir "$dir")
        echo
        echo "=== ${config%:*}, ${config#*:} instance(s) of each service"
        "$0" "${pass[@]}" --database "${config%:*}" --instances "${config#*:}" --into "$dir"
    done
    mkdir -p "$BENCH/results"
    python3 "$TOOLS" compare "${dirs[@]}" --command "bench/run.sh ${ARGS[*]}" \
        --out "$RESULT" --out "$BENCH/results/latest.md"
    echo
    echo "written: ${RESULT#"$ROOT"/} and bench/results/latest.md"
    exit 0
fi

# The services read their settings from the environment too: they run with only these, so
# every other setting is the service's default whatever the calling shell exports.
SERVICE_ENV=(env -i "PATH=$PATH" "HOME=${HOME:-/}" "BCRYPT_COST=$BCRYPT_COST" RUST_LOG=warn)
INTROSPECTION_CLIENT=my-api-introspection
INTROSPECTION_SECRET=

if [[ -n $INTO ]]; then
    mkdir -p "$INTO"
    WORK=$(cd "$INTO" && pwd)
    KEEP=1
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
fi
POOL=$WORK/pool
RUNS_DIR=$WORK/runs
META=$WORK/meta.env
mkdir -p "$POOL" "$RUNS_DIR"
: >"$META"

# --- processes: everything started is tracked by PID and stopped by PID -----------------

PIDS=()

alive() {
    local state
    state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

untrack() {
    local kept=() pid
    for pid in "${PIDS[@]}"; do
        [[ $pid == "$1" ]] || kept+=("$pid")
    done
    PIDS=("${kept[@]}")
}

stop() {
    local pid=$1 i
    untrack "$pid"
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 300; i++)); do
        alive "$pid" || return 0
        sleep 0.05
    done
    echo "  process $pid did not stop in 15 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        stop "$pid"
    done
    if [[ -n ${PG_DIR:-} ]]; then
        ((KEEP == 0)) || cp "$PG_DIR/server.log" "$WORK/postgres.log" 2>/dev/null || true
        pg_stop
    fi
    if [[ -n $INTO ]]; then
        :
    elif ((KEEP)); then
        echo "scratch directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

meta() {
    printf '%s=%s\n' "$1" "$2" >>"$META"
}

say() {
    printf '[%s] %s\n' "$(date +%T)" "$*"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

free_port() {
    python3 "$TOOLS" free-port
}

# spawn NAME PORT PATH CMD...: starts CMD, waits for a 200 on PATH; sets SPAWNED_PID and
# SPAWNED_MS (spawn to the first 200).
spawn() {
    local name=$1 port=$2 path=$3 out
    shift 3
    out=$(python3 "$TOOLS" spawn --log "$WORK/$name.log" --port "$port" --path "$path" -- "$@")
    SPAWNED_PID=${out%% *}
    SPAWNED_MS=${out##* }
    PIDS+=("$SPAWNED_PID")
}

vmhwm_kb() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

cpu_ticks() {
    sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

FSS_PID=
FSS_PIDS=()
API_PIDS=()
IDLE_FALLBACK=5

fss_ticks() {
    local pid total=0
    for pid in "${FSS_PIDS[@]}"; do
        ! alive "$pid" || total=$((total + $(cpu_ticks "$pid")))
    done
    echo "$total"
}

# Password grants left queued at the end of a run keep hashing; the next run starts once
# Fake Social Site is idle (or, for a service not started here, after a pause).
wait_idle() {
    local prev now i
    if [[ -z $FSS_PID ]]; then
        sleep "$IDLE_FALLBACK"
        return
    fi
    prev=$(fss_ticks)
    for ((i = 0; i < 120; i++)); do
        sleep 0.25
        now=$(fss_ticks)
        ((now - prev <= 2)) && return 0
        prev=$now
    done
    echo "  Fake Social Site still busy after 30 s" >&2
}

# --- build and start ------------------------------------------------------------------

NAME=${NAME:-$(hostname 2>/dev/null || true)}
NAME=$(printf '%s' "${NAME:-this-machine}" | tr -c 'A-Za-z0-9._-' '-')
STAMP=$(date +%Y-%m-%d-%H%M)
RESULT=$BENCH/results/$NAME-$STAMP.md
mkdir -p "$BENCH/results"

meta name "$NAME"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta command "bench/run.sh${ARGS[*]:+ ${ARGS[*]}}"
meta nproc "$(nproc)"
meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
meta memory "$(awk '/^MemTotal:/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)"
meta kernel "$(uname -srm)"
meta rustc "$(rustc --version 2>/dev/null || echo 'not installed')"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta top_start "$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 5 && n < 5 { printf "%s%s %s %%", sep, $2, $1; sep = ", "; n++ }')"
meta wrk "wrk -t$THREADS -c$CONNECTIONS --latency, Lua request and response hooks (bench/lua/) in every scenario and the ceiling; default 2 s timeout, 30 s for password grants"
meta duration "${DURATION} s"
meta warmup "${WARMUP} s"
meta runs "$RUNS"
meta bcrypt_cost "$BCRYPT_COST"
meta startup_samples "$STARTUP_SAMPLES"
meta e_setup "two wrk processes at once, each -t1 -c$((CONNECTIONS / 2)): password grants start 1 s before the measured (a) run and end 1 s after it"
meta b_setup "-c$CONNECTIONS over the cost-$BCRYPT_COST users in turn; each following run waits until Fake Social Site is idle (queued hashes done)"
meta d_setup "well-formed JWTs with the claims of valid ones, signed with another key: 401 expected"
source_state=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then
    source_state+=" with uncommitted changes"
fi
meta git "commit $source_state"

if ((BUILD)); then
    if ((LOCAL)); then
        say "building release binaries (cargo build --release -p fake-social-site -p my-api -p bench-ceiling -p bench-roundtrip)"
        (cd "$ROOT" && cargo build --release -p fake-social-site -p my-api -p bench-ceiling -p bench-roundtrip)
    else
        say "building the ceiling and the round-trip driver (cargo build --release -p bench-ceiling -p bench-roundtrip)"
        (cd "$ROOT" && cargo build --release -p bench-ceiling -p bench-roundtrip)
    fi
fi
binaries=(bench-ceiling bench-roundtrip)
((LOCAL == 0)) || binaries+=(fake-social-site my-api)
# The run uses copies, so a build finishing elsewhere meanwhile cannot swap a binary
# under it (Fake Social Site is restarted for (f)).
mkdir -p "$WORK/bin"
for bin in "${binaries[@]}"; do
    [[ -x $BIN/$bin ]] || die "$BIN/$bin is missing: run without --no-build"
    cp -p "$BIN/$bin" "$WORK/bin/"
done
BIN=$WORK/bin

say "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; scratch: $WORK"

CEIL_PORT=$(free_port)
spawn ceiling "$CEIL_PORT" / "$BIN/bench-ceiling" "$CEIL_PORT"
CEIL_PID=$SPAWNED_PID
CEIL=http://127.0.0.1:$CEIL_PORT

if ((LOCAL)); then
    # Each service's instances: ports, and the addresses wrk's threads are spread over. The
    # first instance's URL is the service's URL (and, for all its instances, the public URL:
    # the tokens' issuer is one whichever instance signs).
    FSS_PORTS=() API_PORTS=()
    for ((i = 0; i < INSTANCES; i++)); do
        FSS_PORTS+=("$(free_port)")
        API_PORTS+=("$(free_port)")
    done
    FSS_PORT=${FSS_PORTS[0]}
    API_PORT=${API_PORTS[0]}
    FSS=http://127.0.0.1:$FSS_PORT
    API=http://127.0.0.1:$API_PORT
    FSS_ADDRS=$(printf '127.0.0.1:%s ' "${FSS_PORTS[@]}")
    API_ADDRS=$(printf '127.0.0.1:%s ' "${API_PORTS[@]}")
    if [[ $DATABASE == postgres ]]; then
        # shellcheck source-path=SCRIPTDIR source=../.ci/postgres.sh
        . "$ROOT/.ci/postgres.sh"
        say "starting a PostgreSQL cluster (initdb in a temporary directory, unix socket only, fsync on)"
        pg_start on || die "could not start PostgreSQL (apt-get install postgresql)"
        meta database "PostgreSQL $PG_VERSION, a throwaway cluster started by the script (initdb, unix socket, server settings at their defaults: fsync on, synchronous_commit on, shared_buffers $(pg_psql -tAc 'SHOW shared_buffers'), max_connections $(pg_psql -tAc 'SHOW max_connections'); data directory on $(stat -f -c %T "$PG_DIR")), one database per service"
    else
        meta database "SQLite, one file per service in the scratch directory (on $(stat -f -c %T "$WORK"))"
    fi
    meta instances "$INSTANCES"
    if ((INSTANCES > 1)); then
        meta instances_setup "$INSTANCES instances of each service on one database; wrk thread i sends its connections to instance i mod $INSTANCES (BENCH_ADDRS in bench/lua/common.lua; no proxy in the measured path), so each instance gets $((CONNECTIONS / INSTANCES)) of the $CONNECTIONS connections; My API instance i calls Fake Social Site instance i mod $INSTANCES; all instances of a service share its public URL (the first one's); start-up is the first instance's, peak RSS the largest instance's; (e) runs -t1, so only the first instance, and (h) goes to the first instance only"
    fi
    # new_db NAME: the --database of a new, empty database.
    new_db() {
        if [[ $DATABASE == postgres ]]; then
            pg_psql -c "CREATE DATABASE ${1//-/_}" >/dev/null || die "could not create the database ${1//-/_}"
            echo "postgres:///${1//-/_}?host=$PG_DIR&user=postgres"
        else
            echo "$WORK/$1.sqlite3"
        fi
    }
    FSS_DB=$(new_db fake-social-site)
    API_DB=$(new_db my-api)
    meta target "Fake Social Site and My API started by the script (target/release), fresh databases with fixtures/*.json and bench/fixtures/bench-users.json"
    meta binaries "fake-social-site built $(date -r "$BIN/fake-social-site" "+%F %T") (sha256 $(sha256sum "$BIN/fake-social-site" | cut -c1-12)), my-api built $(date -r "$BIN/my-api" "+%F %T") (sha256 $(sha256sum "$BIN/my-api" | cut -c1-12))"
    meta service_env "a clean environment with BCRYPT_COST=$BCRYPT_COST and RUST_LOG=warn, plus My API's introspection client at Fake Social Site (FAKE_SOCIAL_SITE_CLIENT_ID, FAKE_SOCIAL_SITE_CLIENT_SECRET, provisioned with createapplication); every other setting at its default"

    # start_fss DB [INSTANCE]: instance 0 (the default) is FSS_PID.
    start_fss() {
        local n=${2:-0}
        spawn "fake-social-site$( ((n == 0)) || echo "-$((n + 1))")" "${FSS_PORTS[n]}" /healthz \
            "${SERVICE_ENV[@]}" "$BIN/fake-social-site" --database "$1" serve \
            --bind "127.0.0.1:${FSS_PORTS[n]}" --public-url "$FSS"
        FSS_PIDS[n]=$SPAWNED_PID
        ((n > 0)) || FSS_PID=$SPAWNED_PID
    }
    # FSS is also declared as the OpenID Connect backend of (g), with the issuer it signs as.
    BACKENDS_FILE=$WORK/backends.toml
    printf '[[backend]]\nname = "%s"\nissuer = "%s"\nclient_ids = ["%s"]\nalgorithms = ["ES256", "RS256"]\n' \
        "$OIDC_BACKEND" "$FSS" "$CLIENT_ID" >"$BACKENDS_FILE"
    # start_api DB [INSTANCE]: instance i calls Fake Social Site's instance i mod INSTANCES.
    start_api() {
        local n=${2:-0}
        spawn "my-api$( ((n == 0)) || echo "-$((n + 1))")" "${API_PORTS[n]}" /healthz \
            "${SERVICE_ENV[@]}" \
            "FAKE_SOCIAL_SITE_CLIENT_ID=$INTROSPECTION_CLIENT" \
            "FAKE_SOCIAL_SITE_CLIENT_SECRET=$INTROSPECTION_SECRET" \
            "$BIN/my-api" --database "$1" serve --bind "127.0.0.1:${API_PORTS[n]}" \
            --public-url "$API" --fake-social-site-url "http://127.0.0.1:${FSS_PORTS[n % INSTANCES]}" \
            --backends "$BACKENDS_FILE"
        API_PIDS[n]=$SPAWNED_PID
    }
    # My API checks the tokens it is handed by introspection at Fake Social Site, with a
    # confidential client of its own there (the README's "Running one service alone").
    provision_introspection_client() {
        local out
        out=$("${SERVICE_ENV[@]}" "$BIN/fake-social-site" --database "$FSS_DB" createapplication \
            --name "My API (token introspection)" --client-id "$INTROSPECTION_CLIENT" \
            --client-type confidential --grant-type none --allow-introspection 2>/dev/null) ||
            out=$("${SERVICE_ENV[@]}" "$BIN/fake-social-site" --database "$FSS_DB" \
                createapplication --name "My API (token introspection)" \
                --client-id "$INTROSPECTION_CLIENT" --client-type confidential \
                --allow-introspection)
        INTROSPECTION_SECRET=$(sed -n 's/^client_secret: //p' <<<"$out")
        [[ -n $INTROSPECTION_SECRET ]] || die "createapplication printed no client secret"
    }
    # startup SERVICE: the median start-up on fresh databases, then on the prepared one (the
    # last start stays up), then the other instances on it.
    startup() {
        local service=$1 db samples=() i
        for ((i = 1; i <= STARTUP_SAMPLES; i++)); do
            "start_$service" "$(new_db "$service-fresh-$i")"
            samples+=("$SPAWNED_MS")
            stop "$SPAWNED_PID"
        done
        meta "${service}_startup_fresh_ms" "$(median "${samples[@]}")"
        if [[ $service == fss ]]; then
            db=$FSS_DB
            "${SERVICE_ENV[@]}" "$BIN/fake-social-site" --database "$db" loaddata \
                "$ROOT/fixtures/fake-social-site.json" "$BENCH/fixtures/bench-users.json" >/dev/null
            provision_introspection_client
        else
            db=$API_DB
            "${SERVICE_ENV[@]}" "$BIN/my-api" --database "$db" loaddata "$ROOT/fixtures/my-api.json" \
                >/dev/null
        fi
        samples=()
        for ((i = 1; i <= STARTUP_SAMPLES; i++)); do
            ((i == 1)) || stop "$SPAWNED_PID"
            "start_$service" "$db"
            samples+=("$SPAWNED_MS")
        done
        meta "${service}_startup_prepared_ms" "$(median "${samples[@]}")"
        for ((i = 1; i < INSTANCES; i++)); do
            "start_$service" "$db" "$i"
        done
    }
    say "starting Fake Social Site on $FSS_ADDRS and My API on $API_ADDRS($DATABASE; start-up: $STARTUP_SAMPLES fresh, $STARTUP_SAMPLES prepared)"
    startup fss
    startup api
    say "  start-up fresh/prepared: Fake Social Site $(grep -E '^fss_startup_(fresh|prepared)_ms=' "$META" | cut -d= -f2 | paste -sd/) ms, My API $(grep -E '^api_startup_(fresh|prepared)_ms=' "$META" | cut -d= -f2 | paste -sd/) ms"
else
    FSS=$FSS_URL
    API=$API_URL
    meta target "the services at $FSS (Fake Social Site) and $API (My API), not started by the script: no memory or start-up figures; (g) needs My API to declare that FSS as the OpenID Connect backend $OIDC_BACKEND"
fi
meta order "round-robin: each round runs the ceiling and every selected scenario of a, d, c, g, h, i, b, e once; the first round (${WARMUP} s runs) is the warm-up and is not reported; (f) comes after the rounds, once its rows are stored"

say "issuing the token pool (password grants at cost $BCRYPT_COST, one exchange each)"
python3 "$TOOLS" issue --fss "$FSS" --api "$API" --client-id "$CLIENT_ID" \
    --users "$BENCH/fixtures/bench-users.json" --out "$POOL"
meta pool "$(cat "$POOL/pool.txt")"
if selected g || selected h || selected i; then
    say "signing the pool users in at Fake Social Site's pages (authorization code flow with PKCE)"
    oidc_api=()
    selected g && oidc_api=(--api "$API" --oidc-backend "$OIDC_BACKEND")
    python3 "$TOOLS" oidc --fss "$FSS" --client-id "$CLIENT_ID" \
        --users "$BENCH/fixtures/bench-users.json" --out "$POOL" "${oidc_api[@]}"
    meta g_setup "the ES256 ID tokens of those sign-ins (one per user, nonce not sent), each exchanged once before (the user is registered): POST /users/register-by-token/$OIDC_BACKEND/ with id_token, verified offline against the JWKS of FSS (fetched once), then one write"
    meta h_setup "bench-roundtrip (bench/roundtrip), $THREADS threads, $CONNECTIONS connections: each loops GET /o/authorize/ with a signed-in user's session cookie (consent remembered, scope openid profile email read, PKCE S256) → 302 with a code → POST /o/token/ with the verifier → 200 with an ES256 ID token; a request is a whole round trip, timed from the first byte sent to the tokens"
fi

# --- the bcrypt bound -------------------------------------------------------------------

run_wrk() { # OUT SECONDS THREADS CONNECTIONS TIMEOUT SCRIPT URL POOL_FILE
    if ! wrk -t"$3" -c"$4" -d"${2}s" --timeout "$5" --latency -s "$LUA/$6" "$7" "$8" >"$1" 2>&1; then
        cat "$1" >&2
        die "wrk failed on $7"
    fi
    grep -q '^BENCH ' "$1" || { cat "$1" >&2; die "no result line from wrk on $7"; }
}

field() { # FILE NAME: a value from the BENCH line
    sed -nE "s/^BENCH .*[ ]$2=([^ ]+).*$/\1/p" "$1"
}

say "timing one bcrypt verify at cost $BCRYPT_COST"
run_wrk "$WORK/grant-sequential.txt" 5 1 1 30s form.lua "$FSS/o/token/" "$POOL/grant-bodies.txt"
grant_ms=$(awk -v us="$(field "$WORK/grant-sequential.txt" p50_us)" 'BEGIN { printf "%.0f", us / 1000 }')
meta grant_sequential_ms "$grant_ms"
if verify_s=$(python3 "$TOOLS" bcrypt-time --cost "$BCRYPT_COST"); then
    meta bcrypt_source "python3 bcrypt module, median of 7"
else
    verify_s=$(awk -v ms="$grant_ms" 'BEGIN { printf "%.4f", ms / 1000 }')
    meta bcrypt_source "p50 of sequential password grants; python3 bcrypt is not installed"
fi
meta bcrypt_verify_s "$verify_s"
IDLE_FALLBACK=$(awk -v v="$verify_s" -v c="$CONNECTIONS" -v n="$(nproc)" 'BEGIN { printf "%d", c * v / n + 2 }')
say "  one verify: $verify_s s; one grant at a time: $grant_ms ms"

# --- the rounds -------------------------------------------------------------------------

report_line() { # SCENARIO KIND N FILE
    printf '  %-7s %-6s %s  %10s req/s  p50 %6s us  p99 %7s us  non-2xx %s\n' "$1" "$2" "$3" \
        "$(field "$4" rps)" "$(field "$4" p50_us)" "$(field "$4" p99_us)" "$(field "$4" non2xx)"
}

run_e() { # KIND N SECONDS
    local half=$((CONNECTIONS / 2)) bpid
    wrk -t1 -c"$half" -d"$(($3 + 2))s" --timeout 30s --latency -s "$LUA/form.lua" \
        "$FSS/o/token/" "$POOL/grant-bodies.txt" >"$RUNS_DIR/eb.$1.$2.txt" 2>&1 &
    bpid=$!
    PIDS+=("$bpid")
    sleep 1
    run_wrk "$RUNS_DIR/e.$1.$2.txt" "$3" 1 "$half" 2s bearer.lua "$FSS/user_details/" "$POOL/tokens.txt"
    wait "$bpid" || die "wrk failed on $FSS/o/token/ in (e)"
    untrack "$bpid"
    report_line eb "$1" "$2" "$RUNS_DIR/eb.$1.$2.txt"
}

# CPU accounting, in clock ticks: the machine's busy time, and what the processes of this
# run used (the services, the ceiling, and this shell's finished children: wrk). What is left
# over during a run was used by other work on the machine.
machine_ticks() { # prints "BUSY TOTAL"
    # user + nice + system (interrupts are left out: loopback traffic is counted there, and
    # not in any process's time), and the total including idle, iowait, interrupts, steal.
    awk '/^cpu / { busy = $2 + $3 + $4; print busy, busy + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

# Sets SNAP_BUSY, SNAP_TOTAL (machine) and SNAP_OURS. Not to be called in a subshell: `times`
# must report this shell's children.
snapshot() {
    local pid total=0
    read -r SNAP_BUSY SNAP_TOTAL < <(machine_ticks)
    for pid in "$CEIL_PID" "${FSS_PIDS[@]}" "${API_PIDS[@]}"; do
        if [[ -n $pid ]] && alive "$pid"; then
            total=$((total + $(cpu_ticks "$pid")))
        fi
    done
    times >"$WORK/times"
    SNAP_OURS=$(awk -v hz="$(getconf CLK_TCK)" -v t="$total" 'NR == 2 {
        split($1, u, /[ms]/); split($2, s, /[ms]/)
        t += (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz
    } END { printf "%d\n", t }' "$WORK/times")
}

run_scenario() { # SCENARIO KIND N SECONDS
    local out=$RUNS_DIR/$1.$2.$3.txt busy0 total0 ours0
    meta "load.$1.$2.$3" "$(cut -d' ' -f1 /proc/loadavg)"
    snapshot
    busy0=$SNAP_BUSY total0=$SNAP_TOTAL ours0=$SNAP_OURS
    case $1 in
    ceiling) run_wrk "$out" "$4" "$THREADS" "$CONNECTIONS" 2s bearer.lua "$CEIL/" "$POOL/tokens.txt" ;;
    a | f) BENCH_ADDRS=$FSS_ADDRS run_wrk "$out" "$4" "$THREADS" "$CONNECTIONS" 2s bearer.lua "$FSS/user_details/" "$POOL/tokens.txt" ;;
    b) BENCH_ADDRS=$FSS_ADDRS run_wrk "$out" "$4" "$THREADS" "$CONNECTIONS" 30s form.lua "$FSS/o/token/" "$POOL/grant-bodies.txt" ;;
    c) BENCH_ADDRS=$API_ADDRS run_wrk "$out" "$4" "$THREADS" "$CONNECTIONS" 2s form.lua "$API/users/register-by-token/fake_social_site/" "$POOL/exchange-bodies.txt" ;;
    g) BENCH_ADDRS=$API_ADDRS run_wrk "$out" "$4" "$THREADS" "$CONNECTIONS" 2s form.lua "$API/users/register-by-token/$OIDC_BACKEND/" "$POOL/id-token-bodies.txt" ;;
    d) BENCH_ADDRS=$FSS_ADDRS run_wrk "$out" "$4" "$THREADS" "$CONNECTIONS" 2s bearer.lua "$FSS/user_details/" "$POOL/invalid-tokens.txt" ;;
    h) "$BIN/bench-roundtrip" --base "$FSS" --pool "$POOL/roundtrip-pool.txt" --threads "$THREADS" \
        --connections "$CONNECTIONS" --seconds "$4" >"$out" || die "bench-roundtrip failed on $FSS" ;;
    i) BENCH_ADDRS=$FSS_ADDRS run_wrk "$out" "$4" "$THREADS" "$CONNECTIONS" 2s bearer.lua "$FSS/o/userinfo/" "$POOL/userinfo-tokens.txt" ;;
    e) run_e "$2" "$3" "$4" ;;
    esac
    snapshot
    if ((LOCAL)); then
        meta "others_cpu.$1.$2.$3" "$(awk -v b=$((SNAP_BUSY - busy0)) -v o=$((SNAP_OURS - ours0)) \
            -v t=$((SNAP_TOTAL - total0)) 'BEGIN { x = (b - o) / (t > 0 ? t : 1) * 100; printf "%.0f", x < 0 ? 0 : x }')"
    fi
    report_line "$1" "$2" "$3" "$out"
    [[ $1 != b && $1 != e ]] || wait_idle
}

ROUND=(ceiling)
for s in a d c g h i b e; do
    selected "$s" && ROUND+=("$s")
done
rounds=$RUNS
((WARMUP == 0)) || rounds=$((RUNS + 1))
say "running ${ROUND[*]}: $rounds rounds of $((${#ROUND[@]})) (about $(((WARMUP + RUNS * DURATION) * ${#ROUND[@]} / 60 + 1)) min)"
first=1
((WARMUP > 0)) && first=0
for ((round = first; round <= RUNS; round++)); do
    busy=$(python3 "$TOOLS" cpu-busy 1)
    meta "background_cpu.round $round" "$busy"
    say "round $round$( ((round == 0)) && echo ' (warm-up)'): other CPU use before it: $busy %"
    for s in "${ROUND[@]}"; do
        if ((round == 0)); then
            run_scenario "$s" warmup 0 "$WARMUP"
        else
            run_scenario "$s" run "$round" "$DURATION"
        fi
    done
done

# db_rows DB: the rows of the tables that grow, for the report.
db_rows() {
    local table sep=""
    if [[ $DATABASE == sqlite ]]; then
        python3 "$TOOLS" rows --db "$1"
        return
    fi
    for table in access_tokens refresh_tokens users; do
        printf "%s%s %'d" "$sep" "$table" "$("$PG_BIN/psql" -X -tA "$1" -c "SELECT count(*) FROM $table")"
        sep=", "
    done
    echo
}

if ((LOCAL)); then
    meta fss_vmhwm_kb "$(for pid in "${FSS_PIDS[@]}"; do vmhwm_kb "$pid"; done | sort -n | tail -1)"
    meta api_vmhwm_kb "$(for pid in "${API_PIDS[@]}"; do vmhwm_kb "$pid"; done | sort -n | tail -1)"
    meta api_rows "$(db_rows "$API_DB")"
fi

# --- (f): the same as (a) with many stored tokens -------------------------------------

if selected f && ((LOCAL)) && [[ $DATABASE == sqlite && $INSTANCES == 1 ]]; then
    say "(f): stopping Fake Social Site and storing $SEED_ROWS access-token rows"
    stop "$FSS_PID"
    read -r added seconds total < <(python3 "$TOOLS" seed --db "$FSS_DB" --rows "$SEED_ROWS")
    meta seed_rows "$added"
    meta seed_seconds "$seconds"
    meta seed_total_rows "$total"
    meta seed_db_mb "$(du -m "$FSS_DB" | cut -f1)"
    say "  $added rows in $seconds s ($total in all); restarting Fake Social Site"
    start_fss "$FSS_DB"
    meta fss_startup_seeded_ms "$SPAWNED_MS"
    say "  start-up with them: $SPAWNED_MS ms"
    busy=$(python3 "$TOOLS" cpu-busy 1)
    meta "background_cpu.(f)" "$busy"
    ((WARMUP == 0)) || run_scenario f warmup 0 "$WARMUP"
    for ((round = 1; round <= RUNS; round++)); do
        run_scenario f run "$round" "$DURATION"
    done
    meta fss_seeded_vmhwm_kb "$(vmhwm_kb "$FSS_PID")"
elif selected f && ((LOCAL)); then
    meta skipped "(f), which stores its rows straight into one SQLite file (runs with --database sqlite --instances 1 only)"
elif selected f; then
    meta skipped "(f), which stores rows in the database of a Fake Social Site this script started"
fi

meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
for pid in "${API_PIDS[@]}" "${FSS_PIDS[@]}"; do
    stop "$pid"
done
stop "$CEIL_PID"

if [[ -n $INTO ]]; then
    say "measured; the report is written by the --compare run"
    exit 0
fi
say "results"
python3 "$TOOLS" report --dir "$WORK" --out "$RESULT" --out "$BENCH/results/latest.md"
# The latency percentiles as a plot beside the report, when matplotlib is at hand (bench/
# observe-cost.sh makes the virtual environment looked for first).
for py in "${CARGO_TARGET_DIR:-$ROOT/target}/bench-venv/bin/python" python3; do
    if "$py" -c 'import matplotlib' 2>/dev/null; then
        "$py" "$BENCH/tools/plot.py" "$RUNS_DIR" "${RESULT%.md}.png" \
            --title "Latency percentiles, $(nproc) cores" >/dev/null && echo "plot: ${RESULT%.md}.png"
        break
    fi
done
echo
echo "written: ${RESULT#"$ROOT"/} and bench/results/latest.md"
