//! The schema of one provider file, and its checks.

use crate::shapes::ConfigError;
use crate::shapes::decode_toml;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One provider, as written in `providers/<id>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// Provider id; must equal the file name without `.toml`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The wire format the provider speaks.
    pub wire: Wire,
    /// Default base URL; `{base_url}/chat/completions` is the chat endpoint.
    pub base_url: String,
    /// Env var that overrides `base_url`, named as the vendor's SDK names it.
    #[serde(default)]
    pub base_url_env: Option<String>,
    /// How the provider key is sent.
    pub auth: AuthScheme,
    /// Env var that holds the provider key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Env vars tried in order when `api_key_env` is unset (Gemini's SDKs
    /// also read GOOGLE_API_KEY).
    #[serde(default)]
    pub api_key_env_fallbacks: Vec<String>,
    /// Pass through models that are not in the table (price unknown).
    #[serde(default)]
    pub allow_unlisted_models: bool,
    /// Where the prices were read.
    #[serde(default)]
    pub docs: Option<String>,
    /// The provider also serves OpenAI's Responses API at
    /// `{base_url}/responses`: `/v1/responses` requests routed to it are
    /// sent there as they are instead of translated to chat
    /// (`wire = "openai"` only).
    #[serde(default)]
    pub responses_api: bool,
    /// Azure OpenAI deployments: the `api-version` query parameter.
    #[serde(default)]
    pub api_version: Option<String>,
    /// AWS Bedrock: the region used when the `region_env` variable is unset;
    /// `{region}` in `base_url` is replaced by the region in effect.
    #[serde(default)]
    pub region: Option<String>,
    /// AWS Bedrock: env var naming the region (AWS SDKs use `AWS_REGION`).
    #[serde(default)]
    pub region_env: Option<String>,
    /// Known models by the provider's own model name.
    #[serde(default)]
    pub models: BTreeMap<String, ModelSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    /// OpenAI Chat Completions and Embeddings.
    Openai,
    /// Built-in, in-process mock; no network.
    Mock,
    /// Anthropic Messages (`POST {base_url}/v1/messages`).
    Anthropic,
    /// Google Gemini (`{base_url}/v1beta/models/{model}:generateContent`).
    Gemini,
    /// AWS Bedrock Converse (`{base_url}/model/{model}/converse`), SigV4-signed.
    Bedrock,
    /// Azure OpenAI deployments:
    /// `{base_url}/openai/deployments/{model}/chat/completions?api-version=...`,
    /// where the model name is the deployment name. (Azure's v1 API speaks
    /// plain `openai` and needs no special wire.)
    Azure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthScheme {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKey,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// `x-goog-api-key: <key>` (Google Gemini).
    XGoogApiKey,
    /// AWS Signature Version 4 (Bedrock): `api_key_env` names the access key
    /// id; the secret and session token come from AWS_SECRET_ACCESS_KEY and
    /// AWS_SESSION_TOKEN.
    AwsSigv4,
    /// No credential.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Chat,
    Embedding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    O200kBase,
    Cl100kBase,
    /// Roughly four bytes per token, for vendors whose tokenizer is not public.
    Approx,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub kind: ModelKind,
    /// Context window in tokens.
    pub context_window: u32,
    /// Largest completion the model produces, in tokens.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    pub tokenizer: Tokenizer,
    /// USD per million tokens; absent when unknown (kept distinct from zero).
    #[serde(default)]
    pub price: Option<Price>,
}

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    #[serde(default)]
    pub cached_input: Option<f64>,
    #[serde(default)]
    pub output: Option<f64>,
}

impl ModelSpec {
    /// What an unlisted model of a pass-through provider is assumed to be.
    pub fn unlisted(kind: ModelKind) -> Self {
        Self {
            kind,
            context_window: 0,
            max_output_tokens: None,
            tokenizer: Tokenizer::Approx,
            price: None,
        }
    }
}

pub(super) fn parse(name: &str, stem: &str, text: &str) -> Result<ProviderSpec, ConfigError> {
    let spec: ProviderSpec = decode_toml(name, text)?;
    let mut problems = Vec::new();
    if spec.id != stem {
        problems.push((
            "id".to_owned(),
            format!("`{}` must equal the file name `{stem}`", spec.id),
        ));
    }
    // `{region}` is filled in at startup (Bedrock).
    let url = spec.base_url.replace("{region}", "region");
    if spec.wire != Wire::Mock && reqwest::Url::parse(&url).is_err() {
        problems.push((
            "base_url".to_owned(),
            format!("`{}` is not a URL", spec.base_url),
        ));
    }
    if spec.base_url.ends_with('/') {
        problems.push(("base_url".to_owned(), "must not end with `/`".to_owned()));
    }
    if spec.auth != AuthScheme::None && spec.api_key_env.is_none() {
        problems.push((
            "api_key_env".to_owned(),
            "required unless auth = \"none\"".to_owned(),
        ));
    }
    if spec.wire == Wire::Azure && spec.api_version.is_none() {
        problems.push((
            "api_version".to_owned(),
            "required for wire = \"azure\"".to_owned(),
        ));
    }
    if spec.responses_api && spec.wire != Wire::Openai {
        problems.push((
            "responses_api".to_owned(),
            "only a provider with wire = \"openai\" serves the Responses API".to_owned(),
        ));
    }
    for (model, model_spec) in &spec.models {
        if let Some(price) = &model_spec.price {
            let all = [Some(price.input), price.cached_input, price.output];
            if all.iter().flatten().any(|p| !p.is_finite() || *p < 0.0) {
                problems.push((
                    format!("models.{model}.price"),
                    "prices must be finite and not negative".to_owned(),
                ));
            }
            if model_spec.kind == ModelKind::Chat && price.output.is_none() {
                problems.push((
                    format!("models.{model}.price.output"),
                    "chat models need an output price (or omit `price` when unknown)".to_owned(),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(ConfigError {
            source_name: name.to_owned(),
            problems,
        })
    }
}
