//! Logging setup: text or JSON lines on stderr (stdout is for the ready line).

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Keeps the background log writer alive; logs written after it is dropped are lost.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// Lines the background writer may hold before it drops new ones. Its queue
/// is allocated up front: the library's default (128,000 lines) costs about
/// 4 MB of resident memory for a burst that a request log never reaches.
const LOG_QUEUE_LINES: usize = 16_384;

/// Bytes the background writer gathers before writing to stderr.
const LOG_WRITE_BUFFER: usize = 64 * 1024;

/// Log lines go through a background writer so that a request never waits
/// on a write to stderr. The writer drains every queued line into a buffer
/// and flushes once per drain, so a busy gateway makes one `write` for many
/// request lines instead of one each.
pub fn init(format: LogFormat, level: Option<&str>) -> LogGuard {
    let stderr = std::io::BufWriter::with_capacity(LOG_WRITE_BUFFER, std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(stderr);
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
    guard
}
