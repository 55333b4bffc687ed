use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    shared::service::cli::init_logging();
    match fake_social_site::cli::run(fake_social_site::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
