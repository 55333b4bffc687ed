#!/usr/bin/env bash
# Provisions a Debian bookworm host (the Vagrant VM by default) with both services: builds
# them from the source tree, installs the binaries and systemd units, creates the service
# user, data directory and settings files, and writes each service's public URL. With
# DEMO_MODE=true (the Vagrantfile sets it) it also loads the demo fixtures into new databases
# and turns on My API's test page; without it no demo account is ever created. Safe to
# re-run: it rebuilds, reinstalls and restarts the services, and keeps existing databases
# and keys.
#
#   FSS_PUBLIC_URL, MY_API_PUBLIC_URL  the URLs clients reach the services at (the tokens'
#                                      issuers); required unless DEMO_MODE=true, where they
#                                      default to the VM's forwarded ports on 127.0.0.1
set -euo pipefail

SRC_DIR="${SRC_DIR:-/vagrant}"
BUILD_USER="${BUILD_USER:-vagrant}"        # owns the Rust toolchain and the build cache
TARGET_DIR="${TARGET_DIR:-/var/cache/oauth2-demo/target}"
SERVICE_USER=oauth2demo
DATA_DIR=/var/lib/oauth2-demo
CONF_DIR=/etc/oauth2-demo
BIN_DIR=/usr/local/bin
UNIT_DIR=/etc/systemd/system
SERVICES=(fake-social-site my-api)         # start order: My API calls Fake Social Site
APT_PACKAGES=(build-essential pkg-config curl ca-certificates)
DEMO_MODE="${DEMO_MODE:-false}"

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (the Vagrant shell provisioner does)"
[[ -f "$SRC_DIR/Cargo.toml" ]] || die "no Cargo workspace at $SRC_DIR"

case "$DEMO_MODE" in
  true | 1 | yes) DEMO_MODE=true ;;
  false | 0 | no | '') DEMO_MODE=false ;;
  *) die "DEMO_MODE must be true or false, not '$DEMO_MODE'" ;;
esac
if [[ $DEMO_MODE == true ]]; then
  FSS_PUBLIC_URL="${FSS_PUBLIC_URL:-http://127.0.0.1:8005}"
  MY_API_PUBLIC_URL="${MY_API_PUBLIC_URL:-http://127.0.0.1:8000}"
fi
# The units listen on all addresses, and the services refuse to do that without a public URL.
for var in FSS_PUBLIC_URL MY_API_PUBLIC_URL; do
  [[ -n ${!var:-} ]] || die "set $var to the URL clients reach the service at (or DEMO_MODE=true)"
  [[ ${!var} =~ ^https?://[^[:space:]/]+(/[^[:space:]]*)?$ ]] || die "$var is not an http(s) URL: ${!var}"
done

port_of() {
  case "$1" in
    fake-social-site) echo 8005 ;;
    my-api) echo 8000 ;;
    *) die "unknown service $1" ;;
  esac
}

install_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    log "build dependencies already installed"
  fi
}

ensure_build_user() {
  if ! id -u "$BUILD_USER" >/dev/null 2>&1; then
    log "creating build user $BUILD_USER"
    useradd --system --user-group --create-home --home-dir "/var/lib/$BUILD_USER" \
      --shell /usr/sbin/nologin "$BUILD_USER"
  fi
  BUILD_HOME="$(getent passwd "$BUILD_USER" | cut -d: -f6)"
  CARGO_BIN="$BUILD_HOME/.cargo/bin"
}

# Runs a command as the build user with its own HOME and the rustup toolchain on PATH.
as_builder() {
  runuser -u "$BUILD_USER" -- env HOME="$BUILD_HOME" PATH="$CARGO_BIN:/usr/local/bin:/usr/bin:/bin" "$@"
}

install_rust() {
  if [[ -x "$CARGO_BIN/rustup" ]]; then
    log "updating the stable Rust toolchain"
    as_builder rustup toolchain install stable --profile minimal --no-self-update
  else
    log "installing Rust with rustup for $BUILD_USER"
    local installer
    installer="$(mktemp)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs -o "$installer"
    chmod 0644 "$installer"
    as_builder sh "$installer" -y --profile minimal --default-toolchain stable --no-modify-path
    rm -f "$installer"
  fi
  as_builder cargo --version
}

build_and_install() {
  log "building ${SERVICES[*]} (release) into $TARGET_DIR"
  install -d -o "$BUILD_USER" -g "$(id -gn "$BUILD_USER")" "$TARGET_DIR"
  local packages=() svc
  for svc in "${SERVICES[@]}"; do packages+=(-p "$svc"); done
  (cd "$SRC_DIR" && as_builder env CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release "${packages[@]}")
  for svc in "${SERVICES[@]}"; do
    install -m 0755 "$TARGET_DIR/release/$svc" "$BIN_DIR/$svc"
    log "installed $BIN_DIR/$svc"
  done
}

ensure_service_user() {
  if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    log "creating system user $SERVICE_USER"
    useradd --system --user-group --no-create-home --home-dir "$DATA_DIR" \
      --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$DATA_DIR"
  install -d -m 0750 -o root -g "$SERVICE_USER" "$CONF_DIR"
}

# Each service's env file (settings and secrets, root:oauth2demo 0640). The signing keys are
# not in it: each service generates its own on first start and keeps them in its database
# (mode 0600); `<service> rotatekeys` replaces them. An HS256 SIGNING_KEY left by an earlier
# provisioning is removed, since a service refuses to start with it.
ensure_env_file() {
  local env_file="$CONF_DIR/$1.env"
  if [[ ! -e "$env_file" ]]; then
    log "creating $env_file"
    (umask 077 && : >"$env_file")
  else
    log "keeping the existing $env_file"
    if grep -q '^SIGNING_KEY=' "$env_file"; then
      log "removing the former SIGNING_KEY from $env_file (keys now live in the database)"
      set_env_without "$env_file" SIGNING_KEY
    fi
  fi
  chown root:"$SERVICE_USER" "$env_file"
  chmod 0640 "$env_file"
}

# Removes KEY=... from an env file; the file keeps its owner and mode.
set_env_without() {
  local file="$1" key="$2" rest
  rest="$(grep -v "^$key=" "$file" || true)"
  if [[ -z $rest ]]; then : >"$file"; else printf '%s\n' "$rest" >"$file"; fi
}

# Sets KEY=value in an env file, replacing an earlier value; the file keeps its owner and mode.
set_env() {
  local file="$1" key="$2" value="$3" rest
  rest="$(grep -v "^$key=" "$file" || true)"
  {
    [[ -z $rest ]] || printf '%s\n' "$rest"
    printf '%s=%s\n' "$key" "$value"
  } >"$file"
}

# Where clients reach each service, and whether My API serves the demo's test page.
write_settings() {
  set_env "$CONF_DIR/fake-social-site.env" PUBLIC_URL "$FSS_PUBLIC_URL"
  set_env "$CONF_DIR/my-api.env" PUBLIC_URL "$MY_API_PUBLIC_URL"
  set_env "$CONF_DIR/my-api.env" FAKE_SOCIAL_SITE_PUBLIC_URL "$FSS_PUBLIC_URL"
  set_env "$CONF_DIR/my-api.env" DEMO_MODE "$DEMO_MODE"
}

# Migrates a database that does not exist yet and, in demo mode only, loads the demo
# fixtures (with their admin/admin accounts); a failed first load removes the half-made file
# so that the next run tries again.
ensure_database() {
  local svc="$1" db="$DATA_DIR/$1.sqlite3" fixture="$SRC_DIR/fixtures/$1.json"
  if [[ -e "$db" ]]; then
    log "keeping the existing database $db"
    return
  fi
  if [[ $DEMO_MODE != true ]]; then
    log "creating $db (no demo data: DEMO_MODE is off)"
    runuser -u "$SERVICE_USER" -- "$BIN_DIR/$svc" --database "$db" migrate \
      || { rm -f "$db" "$db-wal" "$db-shm"; die "could not initialise $db"; }
    return
  fi
  [[ -r "$fixture" ]] || die "fixture $fixture is missing"
  log "creating $db and loading $fixture"
  if ! { runuser -u "$SERVICE_USER" -- "$BIN_DIR/$svc" --database "$db" migrate &&
    runuser -u "$SERVICE_USER" -- "$BIN_DIR/$svc" --database "$db" loaddata "$fixture"; }; then
    rm -f "$db" "$db-wal" "$db-shm"
    die "could not initialise $db"
  fi
}

# My API checks every Fake Social Site token by introspection, with a confidential client
# of its own at FSS. Its secret is made once, here, and kept only in my-api.env (hashed at FSS).
ensure_introspection_client() {
  local env_file="$CONF_DIR/my-api.env" fss_db="$DATA_DIR/fake-social-site.sqlite3" output secret
  if grep -q '^FAKE_SOCIAL_SITE_CLIENT_SECRET=' "$env_file"; then
    log "keeping My API's introspection client"
    return
  fi
  log "provisioning My API's introspection client at Fake Social Site"
  output="$(runuser -u "$SERVICE_USER" -- "$BIN_DIR/fake-social-site" --database "$fss_db" \
    createapplication --name "My API (token introspection)" --client-id my-api-introspection \
    --client-type confidential --grant-type none --allow-introspection --rotate-secret)"
  secret="$(printf '%s\n' "$output" | sed -n 's/^client_secret: //p')"
  [[ -n "$secret" ]] || die "could not provision the introspection client"
  printf 'FAKE_SOCIAL_SITE_CLIENT_ID=my-api-introspection\nFAKE_SOCIAL_SITE_CLIENT_SECRET=%s\n' \
    "$secret" >>"$env_file"
}

install_unit() {
  local svc="$1"
  install -m 0644 "$SRC_DIR/deploy/$svc.service" "$UNIT_DIR/$svc.service"
}

# Starts a service, or restarts it when it was already running so the new binary is used.
start_service() {
  local svc="$1" was_active=no
  systemctl is-active --quiet "$svc" && was_active=yes
  systemctl enable --now "$svc"
  if [[ $was_active == yes ]]; then
    log "restarting $svc"
    systemctl restart "$svc"
  fi
}

wait_healthy() {
  local svc="$1" url attempt
  url="http://127.0.0.1:$(port_of "$svc")/healthz"
  for attempt in $(seq 1 30); do
    if curl -fsS -o /dev/null --max-time 2 "$url"; then
      log "$svc is up ($url, after ${attempt} tries)"
      return
    fi
    sleep 1
  done
  journalctl -u "$svc" -n 40 --no-pager >&2 || true
  die "$svc did not answer on $url"
}

main() {
  install_packages
  ensure_build_user
  install_rust
  build_and_install
  ensure_service_user
  local svc
  for svc in "${SERVICES[@]}"; do
    ensure_env_file "$svc"
    ensure_database "$svc"
    install_unit "$svc"
  done
  ensure_introspection_client
  write_settings
  systemctl daemon-reload
  for svc in "${SERVICES[@]}"; do
    start_service "$svc"
    wait_healthy "$svc"
  done
  log "done"
  printf '    My API:            %s\n' "$MY_API_PUBLIC_URL"
  printf '    Fake Social Site:  %s\n' "$FSS_PUBLIC_URL"
  if [[ $DEMO_MODE == true ]]; then
    printf '    Test page:         %s/\n' "$MY_API_PUBLIC_URL"
    printf '    Demo accounts:     FSS admin/admin, user1/user1, user2/user2; My API admin/admin\n'
  fi
  printf "    Logs:              journalctl -u my-api -u fake-social-site -f\n"
}

main "$@"
