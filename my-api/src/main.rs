#[actix_web::main]
async fn main() -> std::process::ExitCode {
    shared::service::cli::main(my_api::cli::run).await
}
