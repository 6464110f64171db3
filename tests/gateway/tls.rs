//! TLS on the front door, through the real binary: a client that trusts
//! the certificate reaches the gateway over HTTPS, and a certificate
//! rotated on disk is served to new connections without a restart.

use crate::harness::*;
use crate::processes::{ConfigDir, GatewayProcess};
use std::path::Path;
use std::time::{Duration, Instant};
use switchboard_mock_upstream::{self as mock_upstream, MockOptions};

/// A fresh self-signed certificate for 127.0.0.1, as (certificate, key) PEM.
fn certificate() -> (String, String) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a certificate");
    (cert.pem(), key_pair.serialize_pem())
}

/// Replace a file at once (write beside it, then rename), as a certificate
/// manager does.
fn replace(path: &Path, text: &str) {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// A client that trusts only `cert`.
fn trusting(cert: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn healthy(client: &reqwest::Client, base: &str) -> bool {
    match client.get(format!("{base}/healthz")).send().await {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn https_with_a_certificate_rotated_on_disk() {
    switchboard::install_crypto_provider();
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let dir = ConfigDir::new();
    let (cert, key) = certificate();
    let (cert_path, key_path) = (dir.path("tls.crt"), dir.path("tls.key"));
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let text = config_text("").replace(
        "[server]\n",
        &format!("[server]\ntls_cert = {cert_path:?}\ntls_key = {key_path:?}\n"),
    );
    let gateway =
        GatewayProcess::start(&dir.write("gateway.toml", &text), &upstream.base_url()).await;
    let base = gateway.url("");
    assert!(base.starts_with("https://"), "{base}");

    let first = trusting(&cert);
    assert!(healthy(&first, &base).await);
    // The API works over it, with a team key.
    let response = first
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(ALPHA_KEY)
        .body(chat_body("echo", "hello over TLS").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Plain HTTP on the same port gets no answer.
    let plain = base.replacen("https://", "http://", 1);
    let answer = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(answer.map(|r| !r.status().is_success()).unwrap_or(true));

    // A new certificate is written over the old one: new connections get it.
    let (new_cert, new_key) = certificate();
    replace(&key_path, &new_key);
    replace(&cert_path, &new_cert);
    let second = trusting(&new_cert);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !healthy(&second, &base).await {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A client that trusts only the old one is now refused.
    assert!(!healthy(&trusting(&cert), &base).await);

    // A bad change (a key that does not fit) is refused, and the current
    // certificate keeps serving.
    let (_, stray_key) = certificate();
    replace(&key_path, &stray_key);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gateway.logs().contains("do not load") {
        assert!(
            Instant::now() < deadline,
            "the bad change was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(healthy(&trusting(&new_cert), &base).await);
}
