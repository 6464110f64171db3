//! The `switchboard` binary: `serve`, `validate`, `hash-key`.

use clap::{Parser, Subcommand};

/// The gateway allocates many short-lived buffers per request; mimalloc's
/// thread-local free lists measured clearly faster than glibc malloc here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard::config::{self, LogFormat};
use switchboard::gateway::Gateway;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "An AI and MCP gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway. Without --config, the embedded default (loopback, mock provider).
    Serve {
        /// Path to switchboard.toml.
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address, overriding the config.
        #[arg(long, env = "SWITCHBOARD_LISTEN")]
        listen: Option<String>,
        /// Log format: text or json.
        #[arg(long, env = "SWITCHBOARD_LOG_FORMAT")]
        log_format: Option<String>,
    },
    /// Check the config and every data file; print each problem with file and key path.
    Validate {
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: Option<PathBuf>,
        /// Folder holding providers/, guardrails/ and prompts/.
        #[arg(long, default_value = ".")]
        data_dir: PathBuf,
    },
    /// Print the `sha256:` hash of a gateway key, for the `hash` field of `[[keys]]`.
    HashKey {
        /// The key; read from stdin when omitted.
        key: Option<String>,
    },
}

fn main() -> ExitCode {
    switchboard::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            listen,
            log_format,
        } => serve(config, listen, log_format),
        Command::Validate { config, data_dir } => validate(config, &data_dir),
        Command::HashKey { key } => hash_key(key),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    }
}

fn serve(
    config_path: Option<PathBuf>,
    listen: Option<String>,
    log_format: Option<String>,
) -> ExitCode {
    let config = match config::load(config_path.as_deref(), listen.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let format = log_format
        .as_deref()
        .and_then(LogFormat::parse)
        .or(config.log_format)
        .unwrap_or(LogFormat::Text);
    let _log_guard = switchboard::telemetry::init(format, config.log_level.as_deref());
    let runtime = runtime();
    let _guard = runtime.enter();
    let gateway = match Gateway::build(config) {
        Ok(gateway) => gateway,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            return ExitCode::FAILURE;
        }
    };
    let router = gateway.router.load();
    let serving: Vec<&str> = router
        .providers()
        .entries
        .iter()
        .filter(|(_, entry)| entry.adapter.is_some())
        .map(|(id, _)| id.as_str())
        .collect();
    tracing::info!(providers = ?serving, "providers serving");
    // A reload reads the same file with the same overrides.
    let source = switchboard::reload::ConfigSource {
        path: config_path.clone(),
        read: Box::new(move || config::load(config_path.as_deref(), listen.as_deref())),
    };
    match runtime.block_on(switchboard::server::run(gateway, Some(source))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("switchboard: {error}");
            ExitCode::FAILURE
        }
    }
}

fn validate(config_path: Option<PathBuf>, data_dir: &std::path::Path) -> ExitCode {
    let mut errors = switchboard::data_files::check_all(data_dir);
    match config::load(config_path.as_deref(), None) {
        Ok(mut config) => {
            // Building checks what the config refers to (providers, aliases)
            // without starting anything. Validation only reads: the ledger is
            // opened in memory, so no ledger file is created or changed.
            config.quota.ledger = None;
            let runtime = runtime();
            let _guard = runtime.enter();
            if let Err(build_errors) = Gateway::build(config) {
                errors.extend(build_errors);
            }
        }
        Err(error) => errors.push(error),
    }
    if errors.is_empty() {
        println!("ok: configuration and data files are valid");
        ExitCode::SUCCESS
    } else {
        for error in &errors {
            eprintln!("{error}");
        }
        ExitCode::FAILURE
    }
}

fn hash_key(key: Option<String>) -> ExitCode {
    let key = match key {
        Some(key) => key,
        None => {
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_err() {
                eprintln!("cannot read the key from stdin");
                return ExitCode::FAILURE;
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if key.is_empty() {
        eprintln!("the key is empty");
        return ExitCode::FAILURE;
    }
    println!("sha256:{}", hex::encode(switchboard::auth::hash_key(&key)));
    ExitCode::SUCCESS
}
