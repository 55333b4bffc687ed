#!/usr/bin/env bash
# Static checks of the deployment files, runnable without a VM or the built binaries:
#   runs shellcheck on deploy/*.sh, vagrant validate, systemd-analyze verify on both units,
#   parses the Grafana dashboard JSON, and checks the Prometheus config (promtool when
#   installed, else that it parses as YAML and names both services' metrics listeners).
# Needs shellcheck, vagrant and systemd (Debian: apt-get install shellcheck vagrant systemd).
# Exits non-zero when any check fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UNITS=(fake-social-site my-api)
failures=0

check() {
  local title="$1"
  shift
  printf '==> %s\n    $ %s\n' "$title" "$*"
  if "$@"; then
    printf '    ok\n'
  else
    printf '    FAILED: %s\n' "$title"
    failures=$((failures + 1))
  fi
}

need() {
  command -v "$1" >/dev/null 2>&1 && return
  printf '==> %s is not installed (apt-get install %s)\n    FAILED\n' "$1" "$2"
  failures=$((failures + 1))
  return 1
}

# The services' binaries are not installed here, so verify copies of the units whose
# ExecStart points at an existing program; everything else is checked as written.
verify_units() {
  local tmp unit status=0 out
  tmp="$(mktemp -d)"
  for unit in "${UNITS[@]}"; do
    sed -e "s|/usr/local/bin/$unit|/usr/bin/env|" "deploy/$unit.service" >"$tmp/$unit.service"
  done
  for unit in "${UNITS[@]}"; do
    printf '    verifying %s.service\n' "$unit"
    # verify prints warnings about this machine's unrelated units too: keep only ours.
    if ! out="$(cd "$tmp" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify "./$unit.service" 2>&1)"; then
      status=1
    fi
    if grep -E "(fake-social-site|my-api)\.service" <<<"$out"; then
      status=1
    fi
  done
  rm -rf "$tmp"
  return "$status"
}

if need shellcheck shellcheck; then
  check "shellcheck the deployment scripts" shellcheck deploy/*.sh
fi
# vagrant keeps state in ./.vagrant unless told otherwise: point it at a throwaway directory.
# --ignore-provider checks the Vagrantfile without a VM provider (VirtualBox, libvirt), which a
# CI machine does not have; `vagrant up` on a workstation still needs one.
validate_vagrantfile() {
  local dot status=0
  dot="$(mktemp -d)"
  VAGRANT_DOTFILE_PATH="$dot" vagrant validate --ignore-provider || status=$?
  rm -rf "$dot"
  return "$status"
}
if need vagrant vagrant; then
  check "vagrant validate --ignore-provider (throwaway VAGRANT_DOTFILE_PATH)" validate_vagrantfile
fi
if need systemd-analyze systemd; then
  check "systemd-analyze verify the units (ExecStart rewritten to /usr/bin/env)" verify_units
fi

# The dashboard is JSON Grafana imports: it must parse, and every panel must query a metric.
check_dashboard() {
  python3 -m json.tool deploy/grafana/dashboard.json >/dev/null &&
    python3 - deploy/grafana/dashboard.json <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
panels = dashboard["panels"]
assert panels, "no panels"
for panel in panels:
    assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
PY
}
check "the Grafana dashboard is valid JSON with a query per panel" check_dashboard
check_prometheus() {
  if command -v promtool >/dev/null 2>&1; then
    promtool check config deploy/prometheus.yml
  else
    echo "    (promtool is not installed: checking the YAML's targets instead)"
    grep -q '"127.0.0.1:9005"' deploy/prometheus.yml && grep -q '"127.0.0.1:9000"' deploy/prometheus.yml &&
      grep -q 'METRICS_BIND=127.0.0.1:9005' deploy/fake-social-site.service &&
      grep -q 'METRICS_BIND=127.0.0.1:9000' deploy/my-api.service
  fi
}
check "the Prometheus scrape config matches the units' METRICS_BIND" check_prometheus

if ((failures)); then
  printf '%d check(s) failed\n' "$failures"
  exit 1
fi
printf 'all deployment checks passed\n'
