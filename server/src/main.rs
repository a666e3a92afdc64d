use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    joygate::cli::run(joygate::cli::Cli::parse()).await
}
