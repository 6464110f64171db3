//! One adapter per wire, built from the provider data, the configuration and
//! the environment.

use super::UpstreamSettings;
use super::anthropic::{self, AnthropicProvider};
use super::bedrock::BedrockProvider;
use super::gemini::GeminiProvider;
use super::openai::OpenAiProvider;
use super::upstream::{ErrorBody, Upstream};
use super::{MockProvider, Provider};
use crate::catalog::{ProviderSpec, Wire};
use http::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct AdapterSettings<'a> {
    pub id: &'a str,
    pub spec: &'a ProviderSpec,
    pub base_url: String,
    pub auth: Option<(HeaderName, HeaderValue)>,
    pub client: &'a reqwest::Client,
    pub upstream: &'a UpstreamSettings,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The provider key (for Bedrock, the access key id).
    pub key: Option<&'a str>,
}

impl AdapterSettings<'_> {
    fn upstream(
        &self,
        extra: Vec<(HeaderName, HeaderValue)>,
        error_body: Option<ErrorBody>,
    ) -> Upstream {
        Upstream {
            id: Arc::from(self.id),
            client: self.client.clone(),
            headers: self.auth.clone().into_iter().chain(extra).collect(),
            first_byte_timeout: self.upstream.first_byte_timeout,
            total_timeout: self.upstream.total_timeout,
            error_body,
        }
    }

    fn max_output(&self) -> BTreeMap<String, u32> {
        self.spec
            .models
            .iter()
            .filter_map(|(name, model)| Some((name.clone(), model.max_output_tokens?)))
            .collect()
    }
}

pub fn build_adapter(settings: AdapterSettings<'_>) -> Result<Arc<dyn Provider>, String> {
    Ok(match settings.spec.wire {
        Wire::Mock => Arc::new(MockProvider::default()),
        Wire::Openai | Wire::Azure => {
            let azure_api_version = match settings.spec.wire {
                Wire::Azure => settings.spec.api_version.clone(),
                _ => None,
            };
            let upstream = settings.upstream(Vec::new(), None);
            Arc::new(OpenAiProvider::new(
                upstream,
                &settings.base_url,
                azure_api_version,
                settings.spec.responses_api,
            )?)
        }
        Wire::Anthropic => {
            let version = (
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(anthropic::VERSION),
            );
            let upstream = settings.upstream(vec![version], Some(anthropic::response::error_body));
            Arc::new(AnthropicProvider::new(
                upstream,
                &settings.base_url,
                settings.max_output(),
            )?)
        }
        Wire::Bedrock => Arc::new(bedrock(&settings)?),
        Wire::Gemini => {
            let upstream =
                settings.upstream(Vec::new(), Some(super::gemini::translate::error_body));
            Arc::new(GeminiProvider::new(upstream, &settings.base_url)?)
        }
    })
}

fn bedrock(settings: &AdapterSettings<'_>) -> Result<BedrockProvider, String> {
    let env = settings.env;
    let access_key = settings
        .key
        .ok_or("enabled, but its access key id is not set")?;
    let secret = env("AWS_SECRET_ACCESS_KEY")
        .filter(|s| !s.is_empty())
        .ok_or("enabled, but AWS_SECRET_ACCESS_KEY is not set")?;
    let token = env("AWS_SESSION_TOKEN").filter(|s| !s.is_empty());
    let credentials =
        aws_credential_types::Credentials::new(access_key, secret, token, None, "environment");
    let region = settings
        .spec
        .region_env
        .as_deref()
        .and_then(env)
        .or_else(|| settings.spec.region.clone())
        .ok_or("no region: set the provider's region or its region_env variable")?;
    let base_url = settings.base_url.replace("{region}", &region);
    let upstream = settings.upstream(Vec::new(), Some(super::bedrock::translate::error_body));
    BedrockProvider::new(upstream, &base_url, region, credentials)
}
