//! `mock-upstream`: the mock provider server for tests, benchmarks and local
//! trials. Prints `mock-upstream listening on http://IP:PORT` once bound.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use switchboard_mock_upstream::{MockOptions, run};

/// Mock OpenAI, Anthropic, Gemini, Bedrock and Azure upstreams.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The only upstream key accepted.
    #[arg(long, default_value = "sk-upstream-test")]
    api_key: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mock-upstream: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = MockOptions {
        api_key: cli.api_key,
        ..Default::default()
    };
    match runtime.block_on(run(cli.listen, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mock-upstream: {error}");
            ExitCode::FAILURE
        }
    }
}
