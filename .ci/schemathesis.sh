#!/usr/bin/env bash
# Fuzzes both services against their own OpenAPI documents with schemathesis: starts the
# debug binaries on loopback ports with fresh databases and the demo fixtures (My API in demo
# mode, so that the test page its document describes is served), waits for
# /healthz, runs every check (bounded examples per operation), then stops them by PID.
# Fails on any 5xx, schema violation or other failed check. Needs `schemathesis` (PyPI).
#
# CI must not pass or fail by luck: by default the generation is seeded and deterministic, so
# every run sends the same requests. Explore beyond that before stopping work with
#   SCHEMATHESIS_SEED=random SCHEMATHESIS_MAX_EXAMPLES=500 bash .ci/schemathesis.sh
# and fix what it finds (it prints the seed it drew, to replay a failure with that seed).
set -euo pipefail
cd "$(dirname "$0")/.."

# .ci/run installs schemathesis into a virtual environment under the target directory.
tools_venv="${CARGO_TARGET_DIR:-target}/ci-tools/venv/bin"
[ -x "$tools_venv/schemathesis" ] && PATH="$(cd "$tools_venv" && pwd):$PATH"
command -v schemathesis >/dev/null 2>&1 || {
  echo "schemathesis is not installed: run .ci/run once, or pip install schemathesis" >&2
  exit 1
}

MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
SEED="${SCHEMATHESIS_SEED:-20261201}"
if [ "$SEED" = random ]; then
  generation=()
else
  generation=(--seed "$SEED" --generation-deterministic)
fi
cargo build -q -p fake-social-site -p my-api
bin="${CARGO_TARGET_DIR:-target}/debug"
work="$(mktemp -d)"
pids=()
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts a service on a free port (port 0: it logs the one it got); sets $url.
start() {
  local name="$1"; shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=("$!")
  url=""
  for _ in $(seq 1 300); do
    url="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/$name.log" | head -n1)"
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$work/$name.log"; echo "$name did not start" >&2; exit 1; }
  for _ in $(seq 1 100); do
    curl -fsS "$url/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$name is not healthy" >&2
  exit 1
}

token() {
  curl -fsS -X POST --data "grant_type=password&username=admin&password=admin&client_id=$2" \
    "$1/o/token/" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

export BCRYPT_COST=4 RUST_LOG=warn
"$bin/fake-social-site" --database "$work/fss.sqlite3" loaddata fixtures/fake-social-site.json >/dev/null
"$bin/my-api" --database "$work/api.sqlite3" loaddata fixtures/my-api.json >/dev/null
secret="$("$bin/fake-social-site" --database "$work/fss.sqlite3" createapplication --name "My API" \
  --client-id my-api-introspection --client-type confidential --allow-introspection \
  | sed -n 's/^client_secret: //p')"

RUST_LOG=info start fss "$bin/fake-social-site" --database "$work/fss.sqlite3" serve --bind 127.0.0.1:0
fss="$url"
FAKE_SOCIAL_SITE_CLIENT_ID=my-api-introspection FAKE_SOCIAL_SITE_CLIENT_SECRET="$secret" \
  RUST_LOG=info start api "$bin/my-api" --database "$work/api.sqlite3" serve --bind 127.0.0.1:0 \
  --fake-social-site-url "$fss" --demo
api="$url"

fss_token="$(token "$fss" ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d)"
api_token="$(token "$api" UvIhfUE25cCw0dOWNzvST2ciOm30uO3IqsdZRgj1)"

# The OAuth2 endpoints take client credentials, not a bearer token: fuzzed without one.
# Everything else is fuzzed with the bearer token of the fixture admin.
oauth2='^/(o/|\.well-known/|healthz|openapi\.json)'
status=0
config="$PWD/.ci/schemathesis.toml"
run() {
  # From the scratch directory: schemathesis keeps its example database in the working one.
  (cd "$work" && schemathesis --config-file "$config" run "$@" "${generation[@]}" --checks all --max-examples "$MAX_EXAMPLES" --request-timeout 20 \
    --suppress-health-check all --no-color) || status=1
}
run "$fss/openapi.json" --include-path-regex "$oauth2"
run "$fss/openapi.json" --exclude-path-regex "$oauth2" -H "Authorization: Bearer $fss_token"
run "$api/openapi.json" --include-path-regex "$oauth2"
run "$api/openapi.json" --exclude-path-regex "$oauth2" -H "Authorization: Bearer $api_token"

for name in fss api; do
  if grep -E '" 5[0-9]{2} ' "$work/$name.log"; then
    echo "$name answered 5xx (above)" >&2
    status=1
  fi
  if grep -E 'panicked|database is locked' "$work/$name.log"; then status=1; fi
done
exit "$status"
