#!/usr/bin/env bash
# Provisions a Debian bookworm host (the Vagrant VM by default) with both services: builds
# them from the source tree, installs the binaries and systemd units, creates the service
# user, data directory and settings files, and writes each service's public URL. With
# DEMO_MODE=true (the Vagrantfile sets it) it also loads the demo fixtures into new databases
# and turns on My API's test page; without it no demo account is ever created. Safe to
# re-run: it rebuilds, reinstalls and restarts the services, and keeps existing databases
# and keys.
#
# DATABASE=sqlite (the default) runs one instance of each service on its SQLite file, on the
# public ports. DATABASE=postgres installs PostgreSQL and nginx from Debian, gives each
# service a role (its password generated here, kept only in the root-only env file) and a
# database, runs the migrations once, and starts two instances of each service
# (deploy/my-api@.service, deploy/fake-social-site@.service on loopback ports) behind nginx
# (deploy/nginx.conf), which keeps the public ports. Provisioning with the other value later
# stops the first variant's units; its data stays where it was (not copied over).
#
#   DATABASE                           sqlite or postgres; unset: the variant this host
#                                      already runs, else sqlite
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
DATABASE="${DATABASE:-}"
# The PostgreSQL variant: the loopback ports of each service's instances (the template units'
# instance names; deploy/nginx.conf lists the same), behind the public ports.
MY_API_PORTS=(8001 8002)
FSS_PORTS=(8006 8007)
NGINX_CONF=/etc/nginx/conf.d/oauth2-demo.conf

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (the Vagrant shell provisioner does)"
[[ -f "$SRC_DIR/Cargo.toml" ]] || die "no Cargo workspace at $SRC_DIR"

case "$DEMO_MODE" in
  true | 1 | yes) DEMO_MODE=true ;;
  false | 0 | no | '') DEMO_MODE=false ;;
  *) die "DEMO_MODE must be true or false, not '$DEMO_MODE'" ;;
esac
if [[ -z $DATABASE ]]; then
  DATABASE=sqlite
  ! grep -qs '^DATABASE_URL=postgres' "$CONF_DIR/my-api.env" || DATABASE=postgres
fi
case "$DATABASE" in
  sqlite) ;;
  postgres) APT_PACKAGES+=(postgresql nginx) ;;
  *) die "DATABASE must be sqlite or postgres, not '$DATABASE'" ;;
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

# The systemd units of a service in the PostgreSQL variant: one per instance port.
instances_of() {
  local port
  case "$1" in
    fake-social-site) for port in "${FSS_PORTS[@]}"; do echo "fake-social-site@$port"; done ;;
    my-api) for port in "${MY_API_PORTS[@]}"; do echo "my-api@$port"; done ;;
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

# Each service's env file (settings and secrets: root:oauth2demo 0640 with SQLite; root:root
# 0600 with PostgreSQL, since it holds the role's password, and systemd reads it as root).
# The signing keys are not in it: each service generates its own on first start and keeps
# them in its database; `<service> rotatekeys` replaces them. An HS256 SIGNING_KEY left by an
# earlier provisioning is removed, since a service refuses to start with it.
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
  if [[ $DATABASE == postgres ]]; then
    chown root:root "$env_file"
    chmod 0600 "$env_file"
  else
    chown root:"$SERVICE_USER" "$env_file"
    chmod 0640 "$env_file"
  fi
}

# Env files written for the other variant: the SQLite units must not inherit a DATABASE_URL
# (an EnvironmentFile= wins over the unit's Environment=), and My API's introspection secret
# belongs to the other variant's Fake Social Site database, so a new one is made.
forget_other_variant() {
  local api_env="$CONF_DIR/my-api.env" had_postgres=no svc
  grep -q '^DATABASE_URL=' "$api_env" && had_postgres=yes
  if [[ $DATABASE == postgres && $had_postgres == no ]] || [[ $DATABASE == sqlite && $had_postgres == yes ]]; then
    if grep -q '^FAKE_SOCIAL_SITE_CLIENT_SECRET=' "$api_env"; then
      log "the database changed: My API's introspection client will be provisioned again"
      set_env_without "$api_env" FAKE_SOCIAL_SITE_CLIENT_ID
      set_env_without "$api_env" FAKE_SOCIAL_SITE_CLIENT_SECRET
    fi
  fi
  if [[ $DATABASE == sqlite ]]; then
    for svc in "${SERVICES[@]}"; do
      if grep -q '^DATABASE_URL=' "$CONF_DIR/$svc.env"; then
        log "removing the PostgreSQL DATABASE_URL from $CONF_DIR/$svc.env"
        set_env_without "$CONF_DIR/$svc.env" DATABASE_URL
      fi
      # No balancer in front: a forwarded header would be the client's own word.
      set_env_without "$CONF_DIR/$svc.env" TRUSTED_PROXIES
    done
  fi
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

# SQLite: migrates a database that does not exist yet and, in demo mode only, loads the demo
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
  local env_file="$CONF_DIR/my-api.env" output secret
  if grep -q '^FAKE_SOCIAL_SITE_CLIENT_SECRET=' "$env_file"; then
    log "keeping My API's introspection client"
    return
  fi
  log "provisioning My API's introspection client at Fake Social Site"
  output="$(run_service fake-social-site \
    createapplication --name "My API (token introspection)" --client-id my-api-introspection \
    --client-type confidential --grant-type none --allow-introspection --rotate-secret)"
  secret="$(printf '%s\n' "$output" | sed -n 's/^client_secret: //p')"
  [[ -n "$secret" ]] || die "could not provision the introspection client"
  printf 'FAKE_SOCIAL_SITE_CLIENT_ID=my-api-introspection\nFAKE_SOCIAL_SITE_CLIENT_SECRET=%s\n' \
    "$secret" >>"$env_file"
}

# --- PostgreSQL variant -----------------------------------------------------------------

# Runs one of a service's commands as the service user, on its database: the SQLite file,
# or the PostgreSQL URL from its env file, handed over in the environment (an argument would
# show the role's password to every local user in the process list).
run_service() {
  local svc="$1"
  shift
  if [[ $DATABASE == postgres ]]; then
    DATABASE_URL="$(sed -n 's/^DATABASE_URL=//p' "$CONF_DIR/$svc.env")" \
      runuser -u "$SERVICE_USER" -- "$BIN_DIR/$svc" "$@"
  else
    runuser -u "$SERVICE_USER" -- "$BIN_DIR/$svc" --database "$DATA_DIR/$svc.sqlite3" "$@"
  fi
}

# SQL as the postgres superuser, from standard input (never in an argument).
as_postgres_sql() {
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"
}

ensure_postgres() {
  local attempt
  systemctl enable --now postgresql
  for attempt in $(seq 1 30); do
    if runuser -u postgres -- pg_isready -q -h 127.0.0.1; then
      log "PostgreSQL is up ($(runuser -u postgres -- psql -X -tAc 'SHOW server_version' | cut -d' ' -f1))"
      return
    fi
    sleep 1
  done
  die "PostgreSQL does not accept connections on 127.0.0.1"
}

# A role and a database per service, named after it (my_api, fake_social_site). The role's
# password is made here when the env file has no DATABASE_URL yet (first provisioning, or
# the file was lost: the role then gets a new one), and is kept only in that file. The
# statements setting it are not logged, even when they fail.
ensure_pg_database() {
  local svc="$1" name env_file="$CONF_DIR/$1.env" password exists fixture="$SRC_DIR/fixtures/$1.json"
  name="${svc//-/_}"
  if grep -q '^DATABASE_URL=postgres' "$env_file"; then
    log "keeping the role $name and its password"
  else
    password="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
    exists="$(as_postgres_sql -tA <<<"SELECT 1 FROM pg_roles WHERE rolname = '$name';")"
    log "$([[ $exists == 1 ]] && echo 'setting a new password for' || echo 'creating') the role $name"
    as_postgres_sql <<SQL
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
$([[ $exists == 1 ]] && echo ALTER || echo CREATE) ROLE $name LOGIN PASSWORD '$password';
SQL
    set_env "$env_file" DATABASE_URL "postgres://$name:$password@127.0.0.1:5432/$name"
  fi
  # nginx on loopback is the only proxy; its X-Forwarded-For names the client the login
  # throttle counts.
  set_env "$env_file" TRUSTED_PROXIES 127.0.0.1
  exists="$(as_postgres_sql -tA <<<"SELECT 1 FROM pg_database WHERE datname = '$name';")"
  if [[ $exists == 1 ]]; then
    log "keeping the existing database $name"
    return
  fi
  log "creating the database $name$([[ $DEMO_MODE == true ]] && echo " and loading $fixture")"
  [[ $DEMO_MODE != true || -r $fixture ]] || die "fixture $fixture is missing"
  as_postgres_sql <<<"CREATE DATABASE $name OWNER $name;"
  # Migrated once here, before any instance starts (each would otherwise race to do it).
  if ! { run_service "$svc" migrate &&
    { [[ $DEMO_MODE != true ]] || run_service "$svc" loaddata "$fixture"; }; }; then
    as_postgres_sql <<<"DROP DATABASE $name;"
    die "could not initialise the database $name"
  fi
}

install_template_unit() {
  local svc="$1"
  install -m 0644 "$SRC_DIR/deploy/$svc@.service" "$UNIT_DIR/$svc@.service"
}

install_balancer() {
  log "installing $NGINX_CONF (nginx: 8000 → ${MY_API_PORTS[*]}, 8005 → ${FSS_PORTS[*]})"
  install -m 0644 "$SRC_DIR/deploy/nginx.conf" "$NGINX_CONF"
  if ! nginx -t -q; then
    rm -f "$NGINX_CONF" # so that nginx's next reload is not refused too
    die "nginx refuses deploy/nginx.conf"
  fi
  systemctl enable nginx
  if systemctl is-active --quiet nginx; then
    systemctl reload nginx
  else
    systemctl start nginx
  fi
}

# The units of the variant not chosen are stopped and removed; their data is kept.
retire_other_variant() {
  local svc unit
  if [[ $DATABASE == postgres ]]; then
    for svc in "${SERVICES[@]}"; do
      if [[ -e $UNIT_DIR/$svc.service ]]; then
        log "stopping and removing $svc.service (the SQLite variant; its database stays in $DATA_DIR)"
        systemctl disable --now "$svc.service"
        rm -f "$UNIT_DIR/$svc.service"
      fi
    done
  else
    for svc in "${SERVICES[@]}"; do
      [[ -e $UNIT_DIR/$svc@.service ]] || continue
      log "stopping and removing the $svc@ instances (the PostgreSQL variant; its database stays)"
      for unit in $(instances_of "$svc"); do
        systemctl disable --now "$unit"
      done
      rm -f "$UNIT_DIR/$svc@.service"
    done
    if [[ -e $NGINX_CONF ]]; then
      log "removing $NGINX_CONF"
      rm -f "$NGINX_CONF"
      ! systemctl is-active --quiet nginx || systemctl reload nginx
    fi
  fi
}

# --- both variants ------------------------------------------------------------------------

install_unit() {
  local svc="$1"
  install -m 0644 "$SRC_DIR/deploy/$svc.service" "$UNIT_DIR/$svc.service"
}

# Starts a unit, or restarts it when it was already running so the new binary is used.
start_service() {
  local svc="$1" was_active=no
  systemctl is-active --quiet "$svc" && was_active=yes
  systemctl enable --now "$svc"
  if [[ $was_active == yes ]]; then
    log "restarting $svc"
    systemctl restart "$svc"
  fi
}

wait_healthy() { # UNIT PORT
  local unit="$1" url="http://127.0.0.1:$2/healthz" attempt
  for attempt in $(seq 1 30); do
    if curl -fsS -o /dev/null --max-time 2 "$url"; then
      log "$unit is up ($url, after ${attempt} tries)"
      return
    fi
    sleep 1
  done
  journalctl -u "$unit" -n 40 --no-pager >&2 || true
  die "$unit did not answer on $url"
}

main() {
  install_packages
  ensure_build_user
  install_rust
  build_and_install
  ensure_service_user
  local svc unit
  for svc in "${SERVICES[@]}"; do
    ensure_env_file "$svc"
  done
  forget_other_variant
  retire_other_variant
  [[ $DATABASE == sqlite ]] || ensure_postgres
  for svc in "${SERVICES[@]}"; do
    if [[ $DATABASE == postgres ]]; then
      ensure_pg_database "$svc"
      install_template_unit "$svc"
    else
      ensure_database "$svc"
      install_unit "$svc"
    fi
  done
  ensure_introspection_client
  write_settings
  systemctl daemon-reload
  if [[ $DATABASE == postgres ]]; then
    install_balancer
    # One instance at a time, so the first start of a fresh database (its signing key) is
    # made once; then the public ports, through nginx.
    for svc in "${SERVICES[@]}"; do
      for unit in $(instances_of "$svc"); do
        start_service "$unit"
        wait_healthy "$unit" "${unit#*@}"
      done
    done
    for svc in "${SERVICES[@]}"; do
      wait_healthy nginx "$(port_of "$svc")"
    done
  else
    for svc in "${SERVICES[@]}"; do
      start_service "$svc"
      wait_healthy "$svc" "$(port_of "$svc")"
    done
  fi
  log "done ($DATABASE)"
  printf '    My API:            %s\n' "$MY_API_PUBLIC_URL"
  printf '    Fake Social Site:  %s\n' "$FSS_PUBLIC_URL"
  if [[ $DEMO_MODE == true ]]; then
    printf '    Test page:         %s/\n' "$MY_API_PUBLIC_URL"
    printf '    Demo accounts:     FSS admin/admin, user1/user1, user2/user2; My API admin/admin\n'
  fi
  if [[ $DATABASE == postgres ]]; then
    printf '    Instances:         %s\n' "$(instances_of fake-social-site | paste -sd' ') $(instances_of my-api | paste -sd' ')"
    printf "    Logs:              journalctl -u 'my-api@*' -u 'fake-social-site@*' -f\n"
  else
    printf "    Logs:              journalctl -u my-api -u fake-social-site -f\n"
  fi
}

main "$@"
