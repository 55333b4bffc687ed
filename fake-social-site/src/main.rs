use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = match fake_social_site::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    shared::service::cli::init_logging(cli.global.log_format);
    match fake_social_site::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
