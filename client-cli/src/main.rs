//! `circles`: parses the command line, runs it, prints a one-line reason on failure.

use clap::Parser;

#[tokio::main]
async fn main() {
    // rustls needs its cryptography chosen once per process: ring, as the server's.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let cli = circles_cli::cli::Cli::parse();
    if let Err(err) = circles_cli::commands::run(cli).await {
        if let circles_cli::error::CliError::Norms { circle, norms, .. } = &err {
            eprintln!("{}", circles_cli::output::norms(circle, norms));
        }
        eprintln!("circles: {err}");
        std::process::exit(err.exit_code());
    }
}
