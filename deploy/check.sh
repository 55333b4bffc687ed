#!/usr/bin/env bash
# Static checks of the deployment files, runnable without a VM or the built binaries:
#   runs shellcheck on deploy/*.sh, vagrant validate (with DATABASE unset and =postgres),
#   systemd-analyze verify on both units and on an instance of each template unit, nginx -t
#   on the balancer config (in a throwaway prefix), checks that the balancer's upstreams are
#   the instances provision.sh starts, parses the Grafana dashboard JSON, and checks the
#   Prometheus config (promtool when installed, else that it names both services' metrics
#   listeners).
# Needs shellcheck, vagrant, systemd and nginx (Debian: apt-get install shellcheck vagrant
# systemd nginx).
# Exits non-zero when any check fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UNITS=(fake-social-site my-api)
# The template units of the PostgreSQL variant, each verified as one of its instances.
TEMPLATE_INSTANCES=(fake-social-site@8006 my-api@8001)
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
# ExecStart points at an existing program; everything else is checked as written. A template
# is verified through an instance of it (a link named like one, as systemd resolves it), so
# its %i specifiers are expanded.
verify_units() {
  local tmp unit template status=0 out
  tmp="$(mktemp -d)"
  for unit in "${UNITS[@]}"; do
    sed -e "s|/usr/local/bin/$unit|/usr/bin/env|" "deploy/$unit.service" >"$tmp/$unit.service"
  done
  for unit in "${TEMPLATE_INSTANCES[@]}"; do
    template="${unit%@*}"
    sed -e "s|/usr/local/bin/$template|/usr/bin/env|" "deploy/$template@.service" >"$tmp/$template@.service"
    ln -s "$template@.service" "$tmp/$unit.service"
  done
  for unit in "${UNITS[@]}" "${TEMPLATE_INSTANCES[@]}"; do
    printf '    verifying %s.service\n' "$unit"
    # verify prints warnings about this machine's unrelated units too: keep only ours.
    if ! out="$(cd "$tmp" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify "./$unit.service" 2>&1)"; then
      status=1
    fi
    if grep -E "(fake-social-site|my-api)(@[0-9]*)?\.service" <<<"$out"; then
      status=1
    fi
  done
  rm -rf "$tmp"
  return "$status"
}

# nginx -t on the balancer config inside a minimal main config, as Debian's nginx.conf
# includes it (within `http { }`), in a throwaway prefix: its log paths are moved there, and
# nothing is started.
check_balancer() {
  local tmp status=0
  tmp="$(mktemp -d)"
  mkdir "$tmp/logs"
  sed -e "s|/var/log/nginx/|$tmp/logs/|" deploy/nginx.conf >"$tmp/oauth2-demo.conf"
  printf 'pid %s/nginx.pid;\nerror_log %s/logs/error.log;\nevents {}\nhttp {\n    include %s/oauth2-demo.conf;\n}\n' \
    "$tmp" "$tmp" "$tmp" >"$tmp/nginx.conf"
  nginx -t -q -p "$tmp" -c "$tmp/nginx.conf" -g 'daemon off;' || status=$?
  rm -rf "$tmp"
  return "$status"
}

# The balancer sends each public port to the instances provision.sh starts, and the
# template units' metrics ports (1 followed by the instance port) stay valid ports.
check_instances() {
  local var upstream port ports servers status=0
  for var in MY_API_PORTS FSS_PORTS; do
    upstream=oauth2_demo_my_api
    [[ $var == FSS_PORTS ]] && upstream=oauth2_demo_fake_social_site
    read -ra ports <<<"$(sed -nE "s/^$var=\(([0-9 ]+)\)$/\1/p" deploy/provision.sh)"
    servers="$(sed -n "/^upstream $upstream {/,/^}/p" deploy/nginx.conf | grep 'server ')"
    ((${#ports[@]} > 0)) || { echo "    no $var in deploy/provision.sh"; status=1; }
    [[ $(wc -l <<<"$servers") -eq ${#ports[@]} ]] ||
      { echo "    $upstream in deploy/nginx.conf and $var differ in length"; status=1; }
    for port in "${ports[@]}"; do
      ((port < 10000)) || { echo "    $var: $port makes no metrics port 1$port"; status=1; }
      grep -q "server 127.0.0.1:$port " <<<"$servers" ||
        { echo "    $upstream in deploy/nginx.conf lacks 127.0.0.1:$port"; status=1; }
    done
  done
  return "$status"
}

if need shellcheck shellcheck; then
  check "shellcheck the deployment scripts" shellcheck deploy/*.sh
fi
# vagrant keeps state in ./.vagrant unless told otherwise: point it at a throwaway directory.
# --ignore-provider checks the Vagrantfile without a VM provider (VirtualBox, libvirt), which a
# CI machine does not have; `vagrant up` on a workstation still needs one.
# With DATABASE unset (or set to the argument: the Vagrantfile reads it).
validate_vagrantfile() {
  local dot status=0 database=(-u DATABASE)
  [[ -z ${1:-} ]] || database=("DATABASE=$1")
  dot="$(mktemp -d)"
  env "${database[@]}" VAGRANT_DOTFILE_PATH="$dot" vagrant validate --ignore-provider || status=$?
  rm -rf "$dot"
  return "$status"
}
if need vagrant vagrant; then
  check "vagrant validate --ignore-provider (throwaway VAGRANT_DOTFILE_PATH)" validate_vagrantfile
  check "the same with DATABASE=postgres" validate_vagrantfile postgres
fi
if need systemd-analyze systemd; then
  check "systemd-analyze verify the units and template instances (ExecStart rewritten to /usr/bin/env)" verify_units
fi
if need nginx nginx; then
  check "nginx -t on deploy/nginx.conf (throwaway prefix)" check_balancer
fi
check "the balancer's upstreams are provision.sh's instance ports" check_instances

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
