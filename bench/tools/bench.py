#!/usr/bin/env python3
"""Helpers for bench/run.sh: what is awkward in bash (timing a spawn to the millisecond,
HTTP with JSON, SQLite, medians, the Markdown report). Standard library only; the optional
`bcrypt` module is used to time one reference verify when it is installed.

Subcommands (see each function's docstring):
  free-port, spawn, cpu-busy, bcrypt-time, issue, oidc, seed, rows, report, compare
"""

import argparse
import base64
import hashlib
import hmac
import html
import http.client
import json
import os
import re
import secrets
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

BENCH_PASSWORD = "bench-password"
# Fixture users whose hashes are bcrypt at cost 12 (user2 is PBKDF2, so not used here).
FIXTURE_USERS = [("admin", "admin"), ("user1", "user1")]


def fail(message):
    print(f"bench.py: {message}", file=sys.stderr)
    sys.exit(1)


# --- processes -------------------------------------------------------------------------


def cmd_free_port(_args):
    """Prints a TCP port that is free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def probe(host, port, path):
    """One GET; returns the status, or None when nothing answers yet."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (ConnectionError, OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def cmd_spawn(args):
    """Starts CMD (output to --log), polls http://127.0.0.1:PORT/PATH every 2 ms until it
    answers 200, and prints `PID MILLISECONDS` (spawn to first 200). The process keeps
    running after this helper exits; run.sh stops it by its PID."""
    if not args.cmd:
        fail("spawn: no command")
    with open(args.log, "ab") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(args.cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        deadline = start + args.timeout
        while True:
            if probe("127.0.0.1", args.port, args.path) == 200:
                elapsed = (time.perf_counter() - start) * 1000
                break
            if proc.poll() is not None:
                fail(f"{args.cmd[0]} exited with {proc.returncode} before answering; "
                     f"see {args.log}")
            if time.perf_counter() > deadline:
                proc.terminate()
                fail(f"{args.cmd[0]} did not answer 200 on :{args.port}{args.path} "
                     f"within {args.timeout} s; see {args.log}")
            time.sleep(0.002)
    print(proc.pid, f"{elapsed:.1f}")


def read_cpu():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def cmd_cpu_busy(args):
    """Prints the machine's CPU use (percent of all cores) over SECONDS."""
    busy0, total0 = read_cpu()
    time.sleep(args.seconds)
    busy1, total1 = read_cpu()
    print(f"{100.0 * (busy1 - busy0) / max(1, total1 - total0):.0f}")


def cmd_bcrypt_time(args):
    """Prints the median time in seconds of one bcrypt verify at --cost (python's bcrypt
    module, a reference independent of the service under test); exits 3 without it."""
    try:
        import bcrypt
    except ImportError:
        sys.exit(3)
    hashed = bcrypt.hashpw(b"reference", bcrypt.gensalt(args.cost))
    times = []
    for _ in range(args.samples):
        start = time.perf_counter()
        bcrypt.checkpw(b"reference", hashed)
        times.append(time.perf_counter() - start)
    print(f"{statistics.median(times):.4f}")


# --- token pool ------------------------------------------------------------------------


# Loopback only: never through a proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post_form(url, fields, timeout=60):
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    try:
        with OPENER.open(req, timeout=timeout) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_bearer(url, token, timeout=30):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with OPENER.open(req, timeout=timeout) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def password_grant(fss, client_id, username, password):
    status, body = post_form(f"{fss}/o/token/", {
        "grant_type": "password", "username": username, "password": password,
        "client_id": client_id})
    if status != 200:
        return None, f"{status} {body[:200]!r}"
    return json.loads(body)["access_token"], None


def forge(token):
    """The same header and claims with a signature made with another key: a well-formed
    token that fails the signature check."""
    parts = token.split(".")
    if len(parts) != 3:
        return token[:-4] + "AAAA"
    mac = hmac.new(secrets.token_bytes(32), f"{parts[0]}.{parts[1]}".encode(),
                   hashlib.sha256).digest()
    return f"{parts[0]}.{parts[1]}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class PoolError(Exception):
    pass


def in_parallel(args, work, items):
    """work(item) for every item on args.parallel threads, the results in order; the first
    PoolError stops the run with its message."""
    try:
        with ThreadPoolExecutor(args.parallel) as pool:
            return list(pool.map(work, items))
    except PoolError as e:
        fail(str(e))


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def cmd_issue(args):
    """Gets one FSS access token per pool user (password grant), exchanges each once at
    My API (so every user is already registered there), checks them, and writes the Lua
    pools into --out: tokens.txt, invalid-tokens.txt, exchange-bodies.txt,
    grant-bodies.txt, and pool.txt (a one-line description)."""
    with open(args.users) as f:
        bench_users = [(r["fields"]["username"], BENCH_PASSWORD)
                       for r in json.load(f) if r["model"] == "auth.user"]
    users = bench_users
    token, error = password_grant(args.fss, args.client_id, *bench_users[0])
    if token is None:
        # The target lacks bench/fixtures/bench-users.json: use the demo fixture's users,
        # several tokens each.
        print(f"  bench users missing ({error}); using the fixture users admin and user1",
              file=sys.stderr)
        users = [FIXTURE_USERS[i % len(FIXTURE_USERS)] for i in range(len(bench_users))]
        description = (f"{len(users)} tokens for the fixture users admin and user1 "
                       "(bench/fixtures/bench-users.json is not loaded in the target)")
    else:
        description = f"{len(users)} tokens, one per user bench1..bench{len(users)}"

    def grant(user):
        tok, err = password_grant(args.fss, args.client_id, *user)
        if tok is None:
            raise PoolError(f"the password grant for {user[0]} failed: {err}")
        return tok

    start = time.perf_counter()
    rest = in_parallel(args, grant, users[1:] if token else users)
    tokens = ([token] if token else []) + rest
    grant_seconds = time.perf_counter() - start

    def check_and_exchange(tok):
        status, body = get_bearer(f"{args.fss}/user_details/", tok)
        if status != 200:
            raise PoolError(f"a fresh token is refused by {args.fss}/user_details/: "
                            f"{status} {body[:200]!r}")
        status, body = post_form(
            f"{args.api}/users/register-by-token/fake_social_site/", {"access_token": tok})
        if status != 200:
            raise PoolError(f"the exchange failed at {args.api}: {status} {body[:200]!r}")
        return tok

    start = time.perf_counter()
    in_parallel(args, check_and_exchange, tokens)
    exchange_seconds = time.perf_counter() - start

    invalid = [forge(t) for t in tokens]
    status, body = get_bearer(f"{args.fss}/user_details/", invalid[0])
    if status != 401:
        fail(f"a forged token got {status}, not 401: {body[:200]!r}")

    grant_users = bench_users if token else FIXTURE_USERS
    os.makedirs(args.out, exist_ok=True)
    write_lines(f"{args.out}/tokens.txt", tokens)
    write_lines(f"{args.out}/invalid-tokens.txt", invalid)
    write_lines(f"{args.out}/exchange-bodies.txt",
                [urllib.parse.urlencode({"access_token": t}) for t in tokens])
    write_lines(f"{args.out}/grant-bodies.txt", [
        urllib.parse.urlencode({"grant_type": "password", "username": u, "password": p,
                                "client_id": args.client_id})
        for u, p in grant_users])
    with open(f"{args.out}/pool.txt", "w") as f:
        f.write(description + "\n")
    print(f"  {description}: password grants {grant_seconds:.1f} s, "
          f"checks and exchanges {exchange_seconds:.1f} s")


# --- OpenID Connect pools --------------------------------------------------------------

# The demo client's registered redirect URI (fixtures/fake-social-site.json) and a fixed PKCE
# pair: the benchmark redeems every code with the same verifier.
OIDC_REDIRECT_URI = "http://127.0.0.1:8000/"
OIDC_SCOPE = "openid profile email read"
OIDC_VERIFIER = "bench-verifier-" + "v" * 43


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to read here (the code is in the Location), not to follow."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Browser:
    """A cookie-keeping client for the provider's pages, one per user."""

    def __init__(self):
        import http.cookiejar

        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), NoRedirect(),
            urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, url, fields=None):
        data = urllib.parse.urlencode(fields).encode() if fields is not None else None
        req = urllib.request.Request(url, data=data)
        try:
            with self.opener.open(req, timeout=60) as res:
                return res.status, res.headers, res.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


def hidden_fields(page):
    """The hidden inputs of the page's form, by name."""
    return {m.group(1): html.unescape(m.group(2)) for m in re.finditer(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


def oidc_authorize_query(client_id):
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(OIDC_VERIFIER.encode()).digest()).rstrip(b"=").decode()
    return urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": OIDC_REDIRECT_URI,
        "scope": OIDC_SCOPE, "code_challenge": challenge, "code_challenge_method": "S256",
        "nonce": "bench"})


def oidc_token_body(client_id):
    return urllib.parse.urlencode({
        "grant_type": "authorization_code", "client_id": client_id,
        "redirect_uri": OIDC_REDIRECT_URI, "code_verifier": OIDC_VERIFIER})


def code_from(headers):
    location = headers.get("Location") or ""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    if "code" not in query:
        raise PoolError(f"no code in the redirect: {location[:200]!r}")
    return query["code"][0]


def oidc_sign_in(fss, client_id, username, password):
    """Logs `username` in at the provider's pages and allows the client once, as a person
    would; returns the session's cookies and an access token with `openid`."""
    browser = Browser()
    authorize = f"{fss}/o/authorize/?{oidc_authorize_query(client_id)}"
    status, _, page = browser.open(authorize)
    if status != 200:
        raise PoolError(f"the authorize request got {status}, not the login page")
    fields = hidden_fields(page)
    fields.update({"username": username, "password": password})
    status, headers, page = browser.open(f"{fss}/o/login/", fields)
    if status == 200 and 'name="decision"' in page:
        status, headers, page = browser.open(
            f"{fss}/o/consent/", {**hidden_fields(page), "decision": "allow"})
    if status not in (302, 303):
        raise PoolError(f"signing {username} in got {status}: {page[:200]!r}")
    status, body = post_form(f"{fss}/o/token/", {
        **dict(urllib.parse.parse_qsl(oidc_token_body(client_id))), "code": code_from(headers)})
    if status != 200:
        raise PoolError(f"redeeming the first code of {username} got {status}: {body[:200]!r}")
    # The consent is remembered: the next authorize request answers with a code at once.
    status, headers, _ = browser.open(authorize)
    if status != 302:
        raise PoolError(f"a signed-in user's authorize request got {status}, not 302")
    code_from(headers)
    tokens = json.loads(body)
    return browser.cookie_header(), tokens["access_token"], tokens["id_token"]


def cmd_oidc(args):
    """Signs every pool user in at the provider's login and consent pages (the authorization
    code flow with PKCE, as the demo client `--client-id`), and writes into --out:
    roundtrip-pool.txt (for bench-roundtrip: the session cookies, the authorize request,
    the token body without the code), userinfo-tokens.txt (access tokens with `openid`) and,
    with --api, id-token-bodies.txt (the ID tokens as register-by-token form bodies for
    --oidc-backend, each exchanged once so that every user is a returning one)."""
    with open(args.users) as f:
        users = [(r["fields"]["username"], BENCH_PASSWORD)
                 for r in json.load(f) if r["model"] == "auth.user"]
    start = time.perf_counter()
    sessions = in_parallel(args, lambda user: oidc_sign_in(args.fss, args.client_id, *user), users)
    seconds = time.perf_counter() - start
    status, body = get_bearer(f"{args.fss}/o/userinfo/", sessions[0][1])
    if status != 200:
        fail(f"userinfo refused a fresh token: {status} {body[:200]!r}")
    authorize = f"/o/authorize/?{oidc_authorize_query(args.client_id)}"
    token_body = oidc_token_body(args.client_id)
    write_lines(f"{args.out}/roundtrip-pool.txt",
                [f"{cookie}\t{authorize}\t{token_body}" for cookie, _, _ in sessions])
    write_lines(f"{args.out}/userinfo-tokens.txt", [token for _, token, _ in sessions])
    print(f"  {len(sessions)} users signed in at the provider's pages in {seconds:.1f} s")
    if args.api:
        exchange_id_tokens(args, [id_token for _, _, id_token in sessions])


def exchange_id_tokens(args, id_tokens):
    """Exchanges each ID token once at My API's OpenID Connect backend (creating its user),
    and writes id-token-bodies.txt for scenario (g)."""
    url = f"{args.api}/users/register-by-token/{args.oidc_backend}/"
    bodies = [urllib.parse.urlencode({"id_token": t}) for t in id_tokens]

    def exchange(id_token):
        status, answer = post_form(url, {"id_token": id_token})
        if status != 200:
            raise PoolError(f"the ID token exchange failed at {url}: {status} {answer[:200]!r}")

    start = time.perf_counter()
    in_parallel(args, exchange, id_tokens)
    write_lines(f"{args.out}/id-token-bodies.txt", bodies)
    print(f"  {len(bodies)} ID tokens exchanged once at {url} in "
          f"{time.perf_counter() - start:.1f} s")


# --- seeding ---------------------------------------------------------------------------

SEED_SQL = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :rows),
rows AS MATERIALIZED (
    SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
           || substr(lower(hex(randomblob(2))), 2) || '-'
           || substr('89ab', 1 + abs(random()) % 4, 1)
           || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))) AS jti,
           i
    FROM n
)
INSERT INTO access_tokens (jti, user_id, application_id, family, scope, created, expires,
                           revoked)
SELECT jti, u.id, :app, jti, 'read write', :now - i % 36000, :now - i % 36000 + 36000, 0
FROM rows JOIN temp.seed_users AS u ON u.k = rows.i % :users
ORDER BY jti
"""


def cmd_seed(args):
    """Inserts --rows live access-token rows (random UUID jtis, each its own family,
    spread over all users, the first application, not expired, not revoked) in one
    transaction. The service must be stopped."""
    db = sqlite3.connect(args.db, isolation_level=None)
    db.execute("PRAGMA cache_size = -262144")
    db.execute("PRAGMA temp_store = MEMORY")
    before = db.execute("SELECT count(*) FROM access_tokens").fetchone()[0]
    app = db.execute("SELECT min(id) FROM applications").fetchone()[0]
    start = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.execute("CREATE TEMP TABLE seed_users (k INTEGER PRIMARY KEY, id INTEGER NOT NULL)")
    db.execute("INSERT INTO temp.seed_users (k, id) "
               "SELECT row_number() OVER (ORDER BY id) - 1, id FROM users")
    users = db.execute("SELECT count(*) FROM temp.seed_users").fetchone()[0]
    db.execute(SEED_SQL, {"rows": args.rows, "app": app, "now": int(time.time()),
                          "users": users})
    db.execute("DROP TABLE temp.seed_users")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = db.execute("SELECT count(*) FROM access_tokens").fetchone()[0]
    db.close()
    print(f"{after - before} {time.perf_counter() - start:.1f} {after}")


def cmd_rows(args):
    """Prints `table N` for each table in --db (read-only; the service may be running)."""
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
        "('access_tokens', 'refresh_tokens', 'users') ORDER BY name")]
    print(", ".join(f"{t} {db.execute(f'SELECT count(*) FROM {t}').fetchone()[0]:,}"
                    for t in tables))
    db.close()


# --- report ----------------------------------------------------------------------------

SCENARIOS = {
    "ceiling": "ceiling: `GET /` on bench-ceiling",
    "a": "(a) FSS `GET /user_details/`, valid token",
    "b": "(b) FSS `POST /o/token/` password grant",
    "c": "(c) My API exchange, registered user",
    "g": "(g) My API exchange of an FSS ID token, registered user",
    "d": "(d) FSS `GET /user_details/`, invalid token",
    "e": "(e) (a) while (b) runs beside it",
    "eb": "(e) (b) beside (a)",
    "f": "(f) (a) with {rows} tokens stored",
    "h": "(h) FSS code round trip (authorize 302 + token), consent remembered",
    "i": "(i) FSS `GET /o/userinfo/`",
}


def read_meta(path):
    meta = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition("=")
                meta[key] = value
    return meta


def parse_runs(runs_dir):
    """{scenario: [result dict per measured run]} from runs/<scenario>.run.<n>.txt."""
    results = {}
    for name in sorted(os.listdir(runs_dir)):
        m = re.fullmatch(r"(\w+)\.run\.(\d+)\.txt", name)
        if not m:
            continue
        with open(os.path.join(runs_dir, name)) as f:
            text = f.read()
        line = next((l for l in text.splitlines() if l.startswith("BENCH ")), None)
        if line is None:
            fail(f"no BENCH line in {name}:\n{text}")
        values = dict(kv.split("=", 1) for kv in line.split()[1:])
        run = {k: float(v) for k, v in values.items()}
        run["n"] = int(m.group(2))
        results.setdefault(m.group(1), []).append(run)
    for runs in results.values():
        runs.sort(key=lambda r: r["n"])
    return results


def summarize(runs):
    total = lambda key: int(sum(r[key] for r in runs))
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50": statistics.median(r["p50_us"] for r in runs),
        "p99": statistics.median(r["p99_us"] for r in runs),
        "requests": total("requests"),
        "non2xx": total("non2xx"),
        "s2xx": total("s2xx"),
        "s401": total("s401"),
        "s4xx": total("s4xx"),
        "s5xx": total("s5xx"),
        "sother": total("sother"),
        "socket": total("connect_err") + total("read_err") + total("write_err"),
        "timeouts": total("timeouts"),
        "runs": runs,
    }


def fmt_rps(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def fmt_us(us):
    if us < 10_000:
        return f"{us / 1000:.2f} ms"
    if us < 1_000_000:
        return f"{us / 1000:.1f} ms"
    return f"{us / 1e6:.2f} s"


def fmt_pct(x):
    if x >= 1:
        return f"{100 * x:.0f} %"
    # one decimal, so a figure just under a threshold does not read as on it
    return f"{100 * x:.1f} %" if x >= 0.1 else f"{100 * x:.2g} %"


def mark(ok):
    return "pass" if ok else "FAIL"


def cmd_report(args):
    """Renders the Markdown report from --dir (meta.env and runs/) to stdout and --out."""
    report = build_report(args.dir)
    for path in args.out:
        with open(path, "w") as f:
            f.write(report["text"])
    print(report["table"])
    if report["services"]:
        print()
        print(report["services"])
    if report["bound"]:
        print(f"\nbcrypt bound: {report['cores']} cores / {report['verify'] * 1000:.0f} ms = "
              f"{report['bound']:.1f} verifies/s")
    for n in report["notes"]:
        print(f"note: {n}")


def build_report(run_dir):
    """The report of one run's scratch directory (meta.env and runs/): its Markdown text,
    main table, service table, notes, per-scenario stats and meta."""
    meta = read_meta(os.path.join(run_dir, "meta.env"))
    stats = {k: summarize(v) for k, v in parse_runs(os.path.join(run_dir, "runs")).items()}
    notes = []
    ceiling = stats.get("ceiling", {}).get("rps")
    cores = int(meta.get("nproc", "1"))
    verify = float(meta["bcrypt_verify_s"]) if meta.get("bcrypt_verify_s") else None
    bound = cores / verify if verify else None

    def frac(key):
        return stats[key]["rps"] / ceiling if ceiling and key in stats else None

    # target text and pass mark per scenario (reporting only; nothing is asserted)
    targets = {}
    if "a" in stats and ceiling and meta.get("database", "").startswith("PostgreSQL"):
        targets["a"] = ("≥ 40 % of ceiling on PostgreSQL", mark(frac("a") >= 0.4))
    elif "a" in stats and ceiling:
        s = stats["a"]
        targets["a"] = ("≥ 50 % of ceiling, p99 < 5 ms",
                        mark(frac("a") >= 0.5 and s["p99"] < 5000))
    if "d" in stats and ceiling:
        s = stats["d"]
        targets["d"] = ("≥ 50 % of ceiling, p99 < 5 ms",
                        mark(frac("d") >= 0.5 and s["p99"] < 5000))
    if "b" in stats and bound:
        targets["b"] = (f"≥ 90 % of the bcrypt bound ({bound:.1f}/s): "
                        f"{fmt_pct(stats['b']['rps'] / bound)}",
                        mark(stats["b"]["rps"] >= 0.9 * bound))
    if "c" in stats:
        s = stats["c"]
        targets["c"] = ("≥ 2,500 req/s, p99 < 20 ms", mark(s["rps"] >= 2500 and s["p99"] < 20000))
    if "g" in stats:
        s = stats["g"]
        targets["g"] = ("≥ 10,000 req/s, p99 < 10 ms", mark(s["rps"] >= 10000 and s["p99"] < 10000))
    if "e" in stats:
        targets["e"] = ("p99 < 10 ms while (b) saturates", mark(stats["e"]["p99"] < 10000))
    if "eb" in stats:
        text = "(b)'s rate beside (a)"
        if bound:
            text += f": {fmt_pct(stats['eb']['rps'] / bound)} of the bcrypt bound"
        targets["eb"] = (text, "")
    if "f" in stats and "a" in stats:
        ratio = stats["f"]["rps"] / stats["a"]["rps"]
        targets["f"] = (f"within 10 % of (a): {fmt_pct(ratio)} of (a)", mark(ratio >= 0.9))
    if "h" in stats:
        s = stats["h"]
        targets["h"] = ("≥ 2,500 round trips/s, p99 < 20 ms (a round trip is two requests)",
                        mark(s["rps"] >= 2500 and s["p99"] < 20000))
    if "i" in stats and "a" in stats:
        ratio = stats["i"]["rps"] / stats["a"]["rps"]
        targets["i"] = (f"within 10 % of (a): {fmt_pct(ratio)} of (a)", mark(ratio >= 0.9))

    expected_401 = {"d"}
    lines = []
    lines.append("| scenario | req/s | p50 | p99 | non-2xx | of ceiling | target | |")
    lines.append("|---|---:|---:|---:|---:|---:|---|---|")
    for key in ["ceiling", "a", "b", "c", "d", "e", "eb", "f", "g", "h", "i"]:
        if key not in stats:
            continue
        s = stats[key]
        non2xx = f"{s['non2xx']:,}"
        if key in expected_401:
            if s["s401"] == s["requests"]:
                non2xx += " (all 401, expected)"
            else:
                non2xx += f" ({s['s401']:,} 401 expected, {s['s2xx']:,} 2xx, {s['s5xx']:,} 5xx)"
                notes.append(f"{key}: not every answer was the expected 401")
        elif s["non2xx"]:
            non2xx += f" ({s['s401']:,} 401, {s['s4xx']:,} other 4xx, {s['s5xx']:,} 5xx)"
            notes.append(f"{key}: {s['non2xx']:,} non-2xx answers of {s['requests']:,}")
        if s["socket"] or s["timeouts"]:
            non2xx += f"; {s['socket']:,} socket errors, {s['timeouts']:,} timeouts"
            notes.append(f"{key}: {s['socket']:,} socket errors, {s['timeouts']:,} timeouts "
                         "(wrk gives up on a request after 2 s, 30 s for password grants, and "
                         "counts a timeout; a socket error is a failed connect, read or write)")
        f = frac(key)
        target, ok = targets.get(key, ("", ""))
        label = SCENARIOS[key].format(rows=f"{int(meta.get('seed_total_rows', 0)):,}")
        lines.append(f"| {label} | {fmt_rps(s['rps'])} | {fmt_us(s['p50'])} | "
                     f"{fmt_us(s['p99'])} | {non2xx} | {fmt_pct(f) if f is not None else ''} | "
                     f"{target} | {ok} |")
    table = "\n".join(lines)

    svc = []
    svc.append("| service | peak RSS (VmHWM) | start-up, fresh db | start-up, prepared db | "
               "target | |")
    svc.append("|---|---:|---:|---:|---|---|")
    for name, key in [("Fake Social Site", "fss"), ("My API", "api")]:
        hwm = [int(meta[k]) for k in (f"{key}_vmhwm_kb", f"{key}_seeded_vmhwm_kb")
               if meta.get(k)]
        fresh = meta.get(f"{key}_startup_fresh_ms")
        prepared = meta.get(f"{key}_startup_prepared_ms")
        if not hwm and not prepared:
            continue
        failed = []
        if not hwm or max(hwm) >= 30 * 1024:
            failed.append("memory")
        if prepared is None or float(prepared) >= 100:
            failed.append("start-up")
        hwm_text = " / ".join(f"{v / 1024:.1f} MB" for v in hwm) if hwm else "n/a"
        svc.append(f"| {name} | {hwm_text} | {fresh + ' ms' if fresh else 'n/a'} | "
                   f"{prepared + ' ms' if prepared else 'n/a'} | < 30 MB, < 100 ms prepared | "
                   f"{'FAIL (' + ', '.join(failed) + ')' if failed else 'pass'} |")
    services = "\n".join(svc) if len(svc) > 2 else ""

    out = []
    out.append(f"# Benchmark: {meta.get('name', 'this machine')}, {meta.get('date', '')}")
    out.append("")
    out.append(f"Command: `{meta.get('command', 'bench/run.sh')}`. Target: {meta.get('target', '')}.")
    out.append("")
    out.append(table)
    out.append("")
    out.append("req/s, p50 and p99 are the medians of the measured runs; non-2xx, socket errors "
               "and timeouts are totals over them. \"of ceiling\" is req/s divided by the "
               "ceiling's. The target column is reporting, not an assertion.")
    if bound:
        out.append("")
        out.append(f"bcrypt bound: {cores} cores ÷ {verify * 1000:.0f} ms per verify at cost "
                   f"{meta.get('bcrypt_cost', '12')} ({meta.get('bcrypt_source', '')}) = "
                   f"**{bound:.1f} verifies/s**.")
        if meta.get("grant_sequential_ms"):
            out.append(f"One password grant at a time (wrk -t1 -c1) took "
                       f"{meta['grant_sequential_ms']} ms (p50).")
    if services:
        out.append("")
        out.append(services)
        out.append("")
        out.append("Start-up: spawn to the first 200 from `/healthz`, polled every 2 ms, median "
                   f"of {meta.get('startup_samples', '3')}; \"fresh\" creates and migrates a new "
                   "database, \"prepared\" opens the loaded one. Peak RSS: `VmHWM` read at the "
                   "end; for Fake Social Site, before and after (f) (it is restarted for (f)).")
        if meta.get("fss_startup_seeded_ms"):
            out.append(f"Fake Social Site's start-up with {int(meta.get('seed_total_rows', 0)):,} "
                       f"access-token rows: {meta['fss_startup_seeded_ms']} ms.")
    if meta.get("api_rows"):
        out.append("")
        out.append(f"Rows in My API's database at the end (after every exchange of the run): "
                   f"{meta['api_rows']}.")
    if meta.get("seed_rows"):
        out.append("")
        out.append(f"Seeding for (f): {int(meta['seed_rows']):,} rows inserted in "
                   f"{meta.get('seed_seconds', '?')} s (one transaction, service stopped); "
                   f"database {meta.get('seed_db_mb', '?')} MB afterwards.")

    out.append("")
    out.append("## Settings")
    out.append("")
    for key, label in [
        ("target", "target"), ("binaries", "binaries"), ("git", "source"),
        ("wrk", "wrk"), ("duration", "measured run"), ("warmup", "warm-up"),
        ("runs", "runs per scenario"), ("order", "order"), ("pool", "token pool"),
        ("e_setup", "scenario (e)"), ("b_setup", "scenario (b)"), ("d_setup", "scenario (d)"),
        ("h_setup", "scenario (h)"),
        ("service_env", "service settings"), ("database", "database"),
        ("instances", "instances of each service"), ("instances_setup", "several instances"),
    ]:
        if meta.get(key):
            out.append(f"- {label}: {meta[key]}")

    out.append("")
    out.append("## Machine")
    out.append("")
    for key, label in [("nproc", "cores (nproc)"), ("cpu", "CPU"), ("memory", "memory"),
                       ("kernel", "kernel"), ("rustc", "rustc"), ("date", "date")]:
        if meta.get(key):
            out.append(f"- {label}: {meta[key]}")

    out.append("")
    out.append("## Load on the machine")
    out.append("")
    out.append(f"- load average at the start: {meta.get('load_start', '?')}; at the end: "
               f"{meta.get('load_end', '?')}")
    idle = [(k, v) for k, v in meta.items() if k.startswith("background_cpu.")]
    if idle:
        busy = [int(v) for _, v in idle]
        out.append("- CPU in use by other processes, sampled for 1 s while the services were "
                   "idle before each round: "
                   + ", ".join(f"{k.split('.', 1)[1]} {v} %" for k, v in idle))
        if max(busy) > 10:
            note = (f"the machine was not quiet: up to {max(busy)} % of its CPU was busy "
                    "with other work between rounds; absolute figures are lower than on a "
                    "quiet machine, ratios measured in the same round less affected")
            out.append(f"- **Note:** {note}.")
            notes.append(note)
    if meta.get("top_start"):
        out.append(f"- busiest other processes at the start: {meta['top_start']}")

    out.append("")
    out.append("## Each run")
    out.append("")
    out.append("| scenario | run | req/s | p50 | p99 | requests | non-2xx | 5xx | socket errors | "
               "timeouts | load average before | CPU used by other work |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    busy_runs = []
    for key in ["ceiling", "a", "b", "c", "d", "e", "eb", "f", "g", "h", "i"]:
        # the two wrk processes of (e) share one load sample
        load_key = "load." + ("e" if key == "eb" else key) + ".run.{}"
        others_key = "others_cpu." + ("e" if key == "eb" else key) + ".run.{}"
        for r in stats.get(key, {}).get("runs", []):
            others = meta.get(others_key.format(r["n"]))
            if others is not None and int(others) > 10 and key != "eb":
                busy_runs.append(f"{key} run {r['n']} ({others} %)")
            out.append(f"| {key} | {r['n']} | {fmt_rps(r['rps'])} | {fmt_us(r['p50_us'])} | "
                       f"{fmt_us(r['p99_us'])} | {int(r['requests']):,} | {int(r['non2xx']):,} | "
                       f"{int(r['s5xx']):,} | "
                       f"{int(r['connect_err'] + r['read_err'] + r['write_err']):,} | "
                       f"{int(r['timeouts']):,} | "
                       f"{meta.get(load_key.format(r['n']), '')} | "
                       f"{others + ' %' if others is not None else ''} |")
    out.append("")
    out.append("\"CPU used by other work\": the machine's user and system CPU time during the "
               "run, less what the services, the ceiling and wrk used, as a share of all cores.")
    if busy_runs:
        note = ("other work on the machine took more than 10 % of its CPU during "
                + ", ".join(busy_runs) + "; those runs are slower than on a quiet machine")
        notes.append(note)
    if meta.get("skipped"):
        out.append("")
        out.append(f"Skipped: {meta['skipped']}.")
    if notes:
        out.append("")
        out.append("## Notes")
        out.append("")
        for n in notes:
            out.append(f"- {n}")
    text = "\n".join(out) + "\n"
    return {"text": text, "table": table, "services": services, "notes": notes,
            "bound": bound, "cores": cores, "verify": verify, "stats": stats, "meta": meta,
            "ceiling": ceiling, "targets": targets}


def configuration(meta):
    """`SQLite, 1 instance` or `PostgreSQL 15.x, 2 instances`, from a run's meta."""
    database = meta.get("database", "SQLite")
    name = database.split(",")[0]
    name = "SQLite" if name.startswith("SQLite") else " ".join(name.split()[:2])
    n = int(meta.get("instances", "1"))
    return f"{name}, {n} instance{'s' if n > 1 else ''}"


COMPARED = ["ceiling", "a", "c", "d", "g"]


def cmd_compare(args):
    """One report of several runs (each --dir one configuration, as bench/run.sh --compare
    makes them): the scenarios side by side, then each run's own report."""
    reports = [build_report(d) for d in args.dir]
    base = reports[0]
    first = base["meta"]
    out = [f"# Benchmark: SQLite and PostgreSQL side by side, {first.get('name', 'this machine')}, "
           f"{first.get('date', '')}", ""]
    out.append(f"Command: `{args.command}`. Each configuration is a whole run of its own, one "
               "after the other, with its own ceiling, fresh databases and token pool; its "
               "report follows below.")
    out.append("")
    out.append("| scenario | configuration | req/s | p50 | p99 | non-2xx | 5xx | of ceiling | "
               f"vs {configuration(first)} | target | |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for key in COMPARED:
        for report in reports:
            s = report["stats"].get(key)
            if s is None:
                continue
            ceiling = report["ceiling"]
            label = SCENARIOS[key].split(" ", 1)[0] if key != "ceiling" else "ceiling"
            ref = base["stats"].get(key)
            versus = fmt_pct(s["rps"] / ref["rps"]) if ref and ref["rps"] else ""
            target, ok = report["targets"].get(key, ("", ""))
            of_ceiling = fmt_pct(s["rps"] / ceiling) if ceiling and key != "ceiling" else ""
            out.append(f"| {label} | {configuration(report['meta'])} | {fmt_rps(s['rps'])} | "
                       f"{fmt_us(s['p50'])} | {fmt_us(s['p99'])} | {s['non2xx']:,} | "
                       f"{s['s5xx']:,} | {of_ceiling} | {versus} | {target} | {ok} |")
    out.append("")
    out.append("Scenarios: " + "; ".join(f"{SCENARIOS[k]}" for k in COMPARED[1:]
                                          if any(k in r["stats"] for r in reports)) + ".")
    out.append("req/s, p50 and p99 are the medians of each configuration's measured runs; "
               "non-2xx and 5xx are totals ((d)'s answers are all expected to be 401). "
               "\"of ceiling\" divides by the ceiling of the same configuration's run; "
               f"\"vs\" divides by {configuration(first)}'s req/s. Runs on one machine, one "
               "after the other: the machine's load may differ between them (each report "
               "below has its own).")
    five = [f"{configuration(r['meta'])} {key}: {r['stats'][key]['s5xx']:,}" for r in reports
            for key in COMPARED if key in r["stats"] and r["stats"][key]["s5xx"]]
    out.append("")
    out.append("5xx answers: " + ("; ".join(five) if five else "none") + ".")
    out.append("")
    for report in reports:
        meta = report["meta"]
        out.append(f"- {configuration(meta)}: {meta.get('database', '')}"
                   + (f"; {meta['instances_setup']}" if meta.get("instances_setup") else ""))
    for report in reports:
        lines = ["#" + line if line.startswith("## ") else line
                 for line in report["text"].rstrip("\n").split("\n")]
        lines[0] = f"## {configuration(report['meta'])}"
        out.append("")
        out.extend(lines)
    text = "\n".join(out) + "\n"
    for path in args.out:
        with open(path, "w") as f:
            f.write(text)
    print("\n".join(line for line in out[4:4 + 2 + len(COMPARED) * len(reports)]
                    if line.startswith("|")))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("free-port").set_defaults(func=cmd_free_port)

    p = sub.add_parser("spawn")
    p.add_argument("--log", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/healthz")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_spawn)

    p = sub.add_parser("cpu-busy")
    p.add_argument("seconds", type=float)
    p.set_defaults(func=cmd_cpu_busy)

    p = sub.add_parser("bcrypt-time")
    p.add_argument("--cost", type=int, default=12)
    p.add_argument("--samples", type=int, default=7)
    p.set_defaults(func=cmd_bcrypt_time)

    p = sub.add_parser("issue")
    p.add_argument("--fss", required=True)
    p.add_argument("--api", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--parallel", type=int, default=4)
    p.set_defaults(func=cmd_issue)

    p = sub.add_parser("oidc")
    p.add_argument("--fss", required=True)
    p.add_argument("--api", default="")
    p.add_argument("--oidc-backend", default="fake_social_site_oidc")
    p.add_argument("--client-id", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--parallel", type=int, default=4)
    p.set_defaults(func=cmd_oidc)

    p = sub.add_parser("seed")
    p.add_argument("--db", required=True)
    p.add_argument("--rows", type=int, required=True)
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("rows")
    p.add_argument("--db", required=True)
    p.set_defaults(func=cmd_rows)

    p = sub.add_parser("report")
    p.add_argument("--dir", required=True)
    p.add_argument("--out", action="append", default=[])
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare")
    p.add_argument("--dir", action="append", required=True)
    p.add_argument("--command", default="bench/run.sh --compare")
    p.add_argument("--out", action="append", default=[])
    p.set_defaults(func=cmd_compare)

    args = parser.parse_args()
    if getattr(args, "cmd", None) and args.cmd[0] == "--":
        args.cmd = args.cmd[1:]
    args.func(args)


if __name__ == "__main__":
    main()
