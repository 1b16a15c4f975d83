//! `circles`: parses the command line, runs it, prints a one-line reason on failure.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = circles_cli::cli::Cli::parse();
    if let Err(err) = circles_cli::commands::run(cli).await {
        eprintln!("circles: {err}");
        std::process::exit(err.exit_code());
    }
}
