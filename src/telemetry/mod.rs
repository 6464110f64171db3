//! Logging setup: text or JSON lines on stderr (stdout is for the ready line).

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

mod batched_writer;

/// Keeps the background log writer alive; logs written after it is dropped are lost.
pub type LogGuard = Option<batched_writer::WriterGuard>;

/// Log lines go through a background writer so that a request never waits
/// on a write to stderr, nor wakes a thread for its line: lines gather in
/// memory and the writer writes them in batches (see `batched_writer`).
pub fn init(format: LogFormat, level: Option<&str>) -> LogGuard {
    match batched_writer::start(std::io::stderr()) {
        Ok((writer, guard)) => {
            install(format, level, writer);
            Some(guard)
        }
        Err(error) => {
            // No thread to spare: lines go straight to stderr.
            install(format, level, std::io::stderr);
            tracing::warn!(%error, "cannot start the log writer; writing lines directly");
            None
        }
    }
}

fn install<W>(format: LogFormat, level: Option<&str>, writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        // rmcp logs every MCP handshake at info, with the peer's whole instructions.
        .or_else(|_| EnvFilter::try_new(level.unwrap_or("info,rmcp=warn")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
