use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    shared::service::cli::init_logging(shared::service::logging::LogFormat::Human);
    match demo::run(demo::Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
