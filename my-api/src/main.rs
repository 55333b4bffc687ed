use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    shared::service::cli::init_logging();
    match my_api::cli::Cli::try_parse() {
        Ok(cli) => match my_api::cli::run(cli).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Err(e) => e.exit(),
    }
}
