//! The one HTTP client all adapters share: pooled, rustls, timeouts from config.

use super::UpstreamSettings;

pub fn build_client(settings: &UpstreamSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .pool_max_idle_per_host(settings.pool_max_idle_per_host)
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .tcp_nodelay(true)
        // Never follow redirects: a provider that redirects is misconfigured,
        // and following could send the provider key somewhere else.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .build()
}
