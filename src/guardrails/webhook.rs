//! Asking an external guard service. The gateway POSTs
//! `{"rule","phase","text"}` and expects `{"match": bool}` within the rule's
//! timeout; a failed, late or malformed answer is what the rule's `on_error`
//! says: `allow` (fail open, logged) or `block` (fail closed).

use super::engine::Engine;
use super::pack::{Rule, phase_label};
use super::{Action, Decision, Finding, Phase};
use serde::Deserialize;
use std::time::Duration;

pub struct WebhookRule {
    rule: usize,
    url: reqwest::Url,
    timeout: Duration,
    fail_closed: bool,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "match")]
    matched: bool,
}

impl WebhookRule {
    pub(super) fn new(rule: usize, spec: &Rule, client: reqwest::Client) -> Result<Self, String> {
        let url = spec
            .url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .ok_or_else(|| format!("rule `{}`: bad `url`", spec.id))?;
        let timeout = match &spec.timeout {
            Some(text) => {
                humantime::parse_duration(text).map_err(|e| format!("rule `{}`: {e}", spec.id))?
            }
            None => Duration::from_secs(1),
        };
        let fail_closed = match spec.on_error.as_deref() {
            Some("block") => true,
            Some("allow") => false,
            _ => return Err(format!("rule `{}`: set `on_error`", spec.id)),
        };
        Ok(Self {
            rule,
            url,
            timeout,
            fail_closed,
            client,
        })
    }

    async fn ask(&self, rule_id: &str, phase: Phase, text: &str) -> Result<bool, String> {
        let body = serde_json::json!({"rule": rule_id, "phase": phase_label(phase), "text": text});
        let call = async {
            let response = self
                .client
                .post(self.url.clone())
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("answered {}", response.status()));
            }
            let bytes = response.bytes().await.map_err(|e| e.to_string())?;
            serde_json::from_slice::<Answer>(&bytes)
                .map(|a| a.matched)
                .map_err(|e| format!("unreadable answer: {e}"))
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

impl Engine {
    /// Whether any webhook rule applies in `phase`.
    pub(super) fn has_remote(&self, phase: Phase) -> bool {
        self.webhooks
            .iter()
            .any(|w| self.rule(w.rule).phases.contains(phase))
    }

    /// The webhook rules over `text` in `phase`, called concurrently. A match
    /// covers the whole text.
    pub(super) async fn check_remote(&self, phase: Phase, text: &str) -> Decision {
        let calls = self
            .webhooks
            .iter()
            .filter(|w| self.rule(w.rule).phases.contains(phase))
            .map(|webhook| async move {
                let rule = self.rule(webhook.rule);
                let mut finding = Finding::new(webhook.rule, rule, 0, text.len());
                match webhook.ask(&rule.id, phase, text).await {
                    Ok(true) => Some(finding),
                    Ok(false) => None,
                    Err(error) => {
                        tracing::warn!(rule = %rule.id, error = %error, fail_closed = webhook.fail_closed, "guardrail webhook failed");
                        webhook.fail_closed.then(|| {
                            finding.action = Action::Block;
                            finding
                        })
                    }
                }
            });
        Decision {
            findings: futures::future::join_all(calls)
                .await
                .into_iter()
                .flatten()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::guardrails::pack::RulePack;
    use crate::guardrails::{Action, Engine, Overrides, Phase, test_client};
    use axum::Json;
    use axum::routing::post;
    use serde_json::{Value, json};
    use std::net::SocketAddr;
    use std::time::Duration;

    /// A guard service on port 0: matches texts containing "forbidden",
    /// sleeps on "slow", answers 500 on "broken".
    async fn guard_service() -> SocketAddr {
        let app = axum::Router::new().route(
            "/check",
            post(|Json(body): Json<Value>| async move {
                let text = body["text"].as_str().unwrap_or_default().to_owned();
                assert_eq!(body["phase"], "tool_result");
                if text.contains("slow") {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                if text.contains("broken") {
                    return Err(http::StatusCode::INTERNAL_SERVER_ERROR);
                }
                Ok(Json(json!({"match": text.contains("forbidden")})))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    fn engine(addr: SocketAddr, on_error: &str) -> Engine {
        let text = format!(
            "id = \"w\"\ndescription = \"d\"\n[[rules]]\nid = \"w.svc\"\nengine = \"webhook\"\nphases = [\"tool_result\"]\naction = \"flag\"\nurl = \"http://{addr}/check\"\ntimeout = \"200ms\"\non_error = \"{on_error}\"\n"
        );
        let pack: RulePack = crate::shapes::decode_toml("w.toml", &text).unwrap();
        Engine::build(&[&pack], &Overrides::default(), None, Some(&test_client())).unwrap()
    }

    async fn actions(engine: &Engine, text: &str) -> Vec<Action> {
        engine
            .check_remote(Phase::ToolResult, text)
            .await
            .findings
            .iter()
            .map(|f| f.action)
            .collect()
    }

    #[tokio::test]
    async fn answers_timeouts_and_failures_follow_the_rule() {
        let addr = guard_service().await;
        let open = engine(addr, "allow");
        let closed = engine(addr, "block");
        assert_eq!(actions(&open, "a forbidden thing").await, [Action::Flag]);
        assert_eq!(actions(&open, "a fine thing").await, []);
        assert_eq!(actions(&open, "slow").await, []);
        assert_eq!(actions(&closed, "slow").await, [Action::Block]);
        assert_eq!(actions(&open, "broken").await, []);
        assert_eq!(actions(&closed, "broken").await, [Action::Block]);
        assert!(
            open.check_remote(Phase::Input, "forbidden")
                .await
                .is_clean()
        );
        assert!(!open.has_remote(Phase::Input) && open.has_remote(Phase::ToolResult));
    }
}
