//! Scenario (h) of `bench/run.sh`: whole authorization code round trips. wrk times single
//! requests; a round trip is two (`GET /o/authorize/` with a session cookie → 302 with a
//! code, then `POST /o/token/` with the PKCE verifier), and its latency is what a user waits.
//! Each of `--connections` tasks loops over the pool: authorize, take the code from the
//! `Location`, redeem it, and records the time from the first byte sent to the tokens.
//!
//! Usage: `bench-roundtrip --base URL --pool FILE [--connections N] [--seconds S] [--threads T]`
//!
//! A pool line is `COOKIE<TAB>AUTHORIZE_PATH_AND_QUERY<TAB>TOKEN_FORM_BODY`: the session
//! cookie of a user whose consent is remembered, the authorize request (without `state`,
//! which the driver adds and checks), and the token request's body without `code`.
//! Prints one line in the format of `bench/lua/common.lua`:
//! `BENCH requests=N duration_us=N rps=X p50_us=N p90_us=N p99_us=N max_us=N non2xx=N …`,
//! where a request is a whole round trip.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Options {
    base: String,
    pool: Vec<PoolLine>,
    connections: usize,
    seconds: u64,
    threads: usize,
}

#[derive(Debug)]
struct PoolLine {
    cookie: String,
    authorize: String,
    token_body: String,
}

/// What one task saw: round-trip latencies in µs and the failures by kind.
#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u64>,
    /// Answers with another status than the step expects, by class.
    s4xx: u64,
    s5xx: u64,
    sother: u64,
    /// 302s whose `Location` had no code or not the state sent.
    no_code: u64,
    transport_errors: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.s4xx += other.s4xx;
        self.s5xx += other.s5xx;
        self.sother += other.sother;
        self.no_code += other.no_code;
        self.transport_errors += other.transport_errors;
    }

    fn wrong_status(&mut self, status: reqwest::StatusCode) {
        match status.as_u16() {
            400..=499 => self.s4xx += 1,
            500..=599 => self.s5xx += 1,
            _ => self.sother += 1,
        }
    }

    fn wrong_statuses(&self) -> u64 {
        self.s4xx + self.s5xx + self.sother
    }

    fn failures(&self) -> u64 {
        self.wrong_statuses() + self.no_code + self.transport_errors
    }
}

fn parse_options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut base, mut pool, mut connections, mut seconds, mut threads) = (None, None, 32, 10, 2);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag} takes a whole number above 0"))
        };
        match flag.as_str() {
            "--base" => base = Some(value.trim_end_matches('/').to_owned()),
            "--pool" => pool = Some(read_pool(&value)?),
            "--connections" => connections = usize::try_from(number()?).unwrap_or(usize::MAX),
            "--seconds" => seconds = number()?,
            "--threads" => threads = usize::try_from(number()?).unwrap_or(usize::MAX),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Options {
        base: base.ok_or("--base is needed")?,
        pool: pool.ok_or("--pool is needed")?,
        connections,
        seconds,
        threads,
    })
}

fn read_pool(path: &str) -> Result<Vec<PoolLine>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let pool: Vec<PoolLine> = text
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(cookie), Some(authorize), Some(token_body)) => Ok(PoolLine {
                    cookie: cookie.to_owned(),
                    authorize: authorize.to_owned(),
                    token_body: token_body.to_owned(),
                }),
                _ => Err(format!(
                    "{path}: a line is not COOKIE<TAB>AUTHORIZE<TAB>BODY"
                )),
            }
        })
        .collect::<Result<_, _>>()?;
    if pool.is_empty() {
        return Err(format!("{path}: empty pool"));
    }
    Ok(pool)
}

/// The `code` of a redirect, after checking it carries back the `state` that was sent.
fn code_from(location: &str, state: &str) -> Option<String> {
    let query = location.split_once('?')?.1;
    let mut code = None;
    let mut state_ok = false;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("code", value)) => code = Some(value.to_owned()),
            Some(("state", value)) => state_ok = value == state,
            _ => {}
        }
    }
    code.filter(|_| state_ok)
}

async fn round_trip(
    client: &reqwest::Client,
    base: &str,
    line: &PoolLine,
    state: &str,
    tally: &mut Tally,
) {
    let started = Instant::now();
    let authorize = client
        .get(format!("{base}{}&state={state}", line.authorize))
        .header(reqwest::header::COOKIE, &line.cookie)
        .send()
        .await;
    let answer = match authorize {
        Ok(answer) => answer,
        Err(_) => return tally.transport_errors += 1,
    };
    if answer.status() != reqwest::StatusCode::FOUND {
        return tally.wrong_status(answer.status());
    }
    let code = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| code_from(l, state));
    let Some(code) = code else {
        return tally.no_code += 1;
    };
    let token = client
        .post(format!("{base}/o/token/"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(format!("{}&code={code}", line.token_body))
        .send()
        .await;
    let answer = match token {
        Ok(answer) => answer,
        Err(_) => return tally.transport_errors += 1,
    };
    let status = answer.status();
    if answer.bytes().await.is_err() {
        return tally.transport_errors += 1;
    }
    if status != reqwest::StatusCode::OK {
        return tally.wrong_status(status);
    }
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tally.latencies_us.push(micros);
}

async fn drive(options: Arc<Options>, task: usize, until: Instant) -> Tally {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client without TLS always builds");
    let mut tally = Tally::default();
    // Tasks start 37 lines apart, as the wrk scripts do.
    let mut cursor = task * 37;
    let mut n = 0u64;
    while Instant::now() < until {
        cursor = (cursor + 1) % options.pool.len();
        n += 1;
        let state = format!("t{task}n{n}");
        round_trip(
            &client,
            &options.base,
            &options.pool[cursor],
            &state,
            &mut tally,
        )
        .await;
    }
    tally
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => Arc::new(options),
        Err(e) => {
            eprintln!("bench-roundtrip: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    let until = started + Duration::from_secs(options.seconds);
    let mut tally = runtime.block_on(async {
        let tasks: Vec<_> = (0..options.connections)
            .map(|task| tokio::spawn(drive(options.clone(), task, until)))
            .collect();
        let mut tally = Tally::default();
        for task in tasks {
            if let Ok(one) = task.await {
                tally.merge(one);
            }
        }
        tally
    });
    let elapsed = started.elapsed();
    tally.latencies_us.sort_unstable();
    let done = tally.latencies_us.len();
    println!(
        "BENCH requests={done} duration_us={} rps={:.2} p50_us={} p90_us={} p99_us={} max_us={} \
         non2xx={} s2xx={done} s401=0 s4xx={} s5xx={} sother={} status_errors={} connect_err=0 \
         read_err={} write_err=0 timeouts=0",
        elapsed.as_micros(),
        done as f64 / elapsed.as_secs_f64(),
        percentile(&tally.latencies_us, 50.0),
        percentile(&tally.latencies_us, 90.0),
        percentile(&tally.latencies_us, 99.0),
        tally.latencies_us.last().copied().unwrap_or(0),
        tally.failures(),
        tally.s4xx,
        tally.s5xx,
        tally.sother + tally.no_code,
        tally.wrong_statuses(),
        tally.transport_errors,
    );
    if tally.failures() > 0 {
        eprintln!(
            "bench-roundtrip: {} answers with an unexpected status (4xx {}, 5xx {}), {} redirects \
             without a code or with the wrong state, {} transport errors",
            tally.wrong_statuses(),
            tally.s4xx,
            tally.s5xx,
            tally.no_code,
            tally.transport_errors
        );
    }
    ExitCode::SUCCESS
}
