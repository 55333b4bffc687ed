#[actix_web::main]
async fn main() -> std::process::ExitCode {
    shared::service::cli::main(fake_social_site::cli::run).await
}
