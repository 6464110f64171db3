//! TLS on the front door: rustls with the certificate chain and key read
//! from PEM files. Both are read again when either file changes (checked
//! every `RELOAD_EVERY`), so a rotated certificate is served without a
//! restart; new connections get it, open ones keep theirs. A change that
//! does not load (a half-written file, a key that does not match the
//! certificate) is logged and the old certificate keeps serving.
//!
//! Handshakes run in their own tasks with a deadline, so a slow or silent
//! client never holds up the accept loop.

use arc_swap::ArcSwap;
use axum::extract::ConnectInfo;
use axum::serve::IncomingStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How often the files are checked for a change.
const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// Longest a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections handshaken and waiting for the server to take them.
const ACCEPTED_BACKLOG: usize = 128;

/// Where the certificate chain and its key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Read and check the files: a chain of at least one certificate and the
/// private key that matches its first.
pub fn load(files: &TlsFiles) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|error| format!("{}: {error}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|error| format!("{}: {error}", files.key.display()))?;
    CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider())
        .map_err(|error| format!("the key does not fit the certificate: {error}"))
}

/// Serves whatever certificate was loaded last.
#[derive(Debug)]
struct Current(ArcSwap<CertifiedKey>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// The TLS acceptor for `files`, and a task that reloads them on change.
pub fn acceptor(files: TlsFiles) -> Result<TlsAcceptor, String> {
    let current = Arc::new(Current(ArcSwap::from_pointee(load(&files)?)));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| error.to_string())?
    .with_no_client_auth()
    .with_cert_resolver(current.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let weak = Arc::downgrade(&current);
    tokio::spawn(async move {
        let modified = |files: &TlsFiles| -> Option<(SystemTime, SystemTime)> {
            let time = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
            Some((time(&files.cert)?, time(&files.key)?))
        };
        let mut seen = modified(&files);
        loop {
            tokio::time::sleep(RELOAD_EVERY).await;
            let Some(current) = weak.upgrade() else {
                return;
            };
            let now = modified(&files);
            if now == seen {
                continue;
            }
            match load(&files) {
                Ok(key) => {
                    current.0.store(Arc::new(key));
                    seen = now;
                    tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                }
                // Perhaps half written: tried again at the next check.
                Err(error) => {
                    tracing::warn!(%error, "TLS files changed but do not load; the old certificate still serves");
                }
            }
        }
    });
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A listener whose connections have finished their TLS handshake.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (sender, accepted) = mpsc::channel(ACCEPTED_BACKLOG);
        tokio::spawn(async move {
            while !sender.is_closed() {
                let (stream, peer) = match tcp.accept().await {
                    Ok(connection) => connection,
                    Err(error) => {
                        // Out of file descriptors and the like: back off.
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { accepted, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accept task ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Makes the per-connection service for a TLS connection: the router with
/// the peer's address as `ConnectInfo<SocketAddr>`, as plain HTTP has it
/// (the loopback-only key checks it).
#[derive(Clone)]
pub struct WithPeer(pub axum::Router);

type PeerService =
    <axum::Extension<ConnectInfo<SocketAddr>> as tower::Layer<axum::Router>>::Service;

impl<'a> tower::Service<IncomingStream<'a, TlsListener>> for WithPeer {
    type Response = PeerService;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<PeerService, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, incoming: IncomingStream<'a, TlsListener>) -> Self::Future {
        let peer = ConnectInfo(*incoming.remote_addr());
        std::future::ready(Ok(tower::Layer::layer(
            &axum::Extension(peer),
            self.0.clone(),
        )))
    }
}
