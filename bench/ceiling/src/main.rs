//! The ceiling of `bench/run.sh`: an actix-web server that does nothing but answer
//! `GET /` with a short JSON body, one worker per core, like the two services. Whatever
//! a service does per request costs throughput relative to this; the benchmark reports
//! every scenario as a fraction of it, measured in the same run on the same machine.
//!
//! Usage: `bench-ceiling [PORT]` (default 0: any free port). It listens on 127.0.0.1 and
//! prints `bench-ceiling listening on http://127.0.0.1:PORT`.

use std::process::ExitCode;

use actix_web::{App, HttpResponse, HttpServer, web};

const BODY: &str = r#"{"status":"ok"}"#;

async fn hello() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(BODY)
}

#[actix_web::main]
async fn main() -> ExitCode {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => 0,
        Some(Ok(port)) => port,
        Some(Err(e)) => {
            eprintln!("error: the port must be a number from 0 to 65535: {e}");
            return ExitCode::FAILURE;
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let server = match HttpServer::new(|| App::new().route("/", web::get().to(hello)))
        .workers(workers)
        .bind(("127.0.0.1", port))
    {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    for addr in server.addrs() {
        println!("bench-ceiling listening on http://{addr}");
    }
    match server.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
