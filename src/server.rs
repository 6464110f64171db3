//! Binding, serving and shutting down.

use crate::gateway::Gateway;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// A gateway bound to a port and serving in the background.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bind `listen` and serve in a background task (tests and benchmarks).
pub async fn spawn(gateway: Arc<Gateway>, listen: SocketAddr) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let listener = no_delay(listener);
    let app = crate::http::router(gateway.clone());
    let task = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(error) = axum::serve(listener, service).await {
            tracing::error!(%error, "server stopped");
        }
    });
    Ok(RunningServer {
        addr,
        gateway,
        task,
    })
}

/// Small writes (SSE events, MCP responses) go out at once: with Nagle's
/// algorithm on, a response written in pieces waits ~40 ms for the client's
/// delayed ACK.
fn no_delay(listener: TcpListener) -> axum::serve::TapIo<TcpListener, fn(&mut TcpStream)> {
    fn set(tcp: &mut TcpStream) {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    }
    axum::serve::ListenerExt::tap_io(listener, set as fn(&mut TcpStream))
}

/// Serve until SIGINT or SIGTERM, then let in-flight requests finish
/// within the grace period. With a config source, the config is reloaded
/// from it on SIGHUP and when its files change (see `reload.rs`).
pub async fn run(
    gateway: Arc<Gateway>,
    reload_from: Option<crate::reload::ConfigSource>,
) -> std::io::Result<()> {
    if let Some(source) = reload_from {
        crate::reload::follow(gateway.clone(), source);
    }
    let config = gateway.config.load_full();
    let listen = config.listen;
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let tls = match config.tls.clone() {
        Some(files) => Some(crate::tls::acceptor(files).map_err(std::io::Error::other)?),
        None => None,
    };
    if !addr.ip().is_loopback() {
        let dev_keys = config.keys.iter().filter(|k| k.loopback_only).count();
        if dev_keys > 0 {
            tracing::warn!(
                dev_keys,
                "listening beyond loopback: loopback-only keys will be refused to remote clients"
            );
        }
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, "switchboard listening");
    // A machine-readable line for scripts that start the gateway on port 0.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "switchboard listening on {scheme}://{addr}")?;
    stdout.flush()?;
    let grace = config.shutdown_grace;
    let drain_delay = config.drain_delay;
    let quota = gateway.quota.clone();
    let cache = gateway.response_cache.clone();
    let draining = gateway.clone();
    let app = crate::http::router(gateway);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async {
        let _ = stop_rx.await;
    };
    let server = match tls {
        Some(acceptor) => {
            let listener = crate::tls::TlsListener::new(listener, acceptor)?;
            let service = crate::tls::WithPeer(app);
            tokio::spawn(
                axum::serve(listener, service)
                    .with_graceful_shutdown(stop)
                    .into_future(),
            )
        }
        None => {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            tokio::spawn(
                axum::serve(no_delay(listener), service)
                    .with_graceful_shutdown(stop)
                    .into_future(),
            )
        }
    };
    shutdown_signal().await;
    // `/readyz` says so from now on; with a drain delay the gateway keeps
    // serving meanwhile, so a load balancer polling it stops sending
    // traffic before the listener closes.
    draining.readiness.start_draining();
    if !drain_delay.is_zero() {
        tracing::info!(
            ?drain_delay,
            "shutting down: draining (/readyz answers 503), still serving"
        );
        tokio::select! {
            () = tokio::time::sleep(drain_delay) => {}
            // A second signal cuts the delay short.
            () = shutdown_signal() => {}
        }
    }
    drop(draining);
    tracing::info!(?grace, "shutting down: finishing in-flight requests");
    let _ = stop_tx.send(());
    let served = match tokio::time::timeout(grace, server).await {
        Ok(Ok(result)) => result,
        Ok(Err(join_error)) => Err(std::io::Error::other(join_error)),
        Err(_) => {
            tracing::warn!("grace period over; dropping remaining connections");
            Ok(())
        }
    };
    // Redis settles are sent in the background: land the last ones before exiting.
    if !quota.flush_settles(std::time::Duration::from_secs(5)).await {
        tracing::warn!("quota settles still queued at exit; their holds expire in Redis");
    }
    quota.close_ledger().await;
    // Entries stored since the last periodic snapshot would be lost otherwise.
    if let Some(cache) = cache {
        cache.flush_at_shutdown().await;
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
