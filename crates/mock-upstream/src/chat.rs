//! `POST /v1/chat/completions`: OpenAI's validation rules and a
//! deterministic echo answer.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::faults::Fault;
use super::json::{self, Kind};
use super::{MockState, json_response, stream};

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];
const SUPPORTED_ROLES: &str = "'system', 'assistant', 'user', 'function', 'tool', and 'developer'";
/// Largest `n` OpenAI accepts.
const MAX_N: i64 = 128;

/// The fields the mock looks at; everything else (tools, response_format…)
/// is skipped by serde without being materialized.
#[derive(Deserialize)]
struct RawChat<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
    #[serde(borrow)]
    stream: Option<&'a RawValue>,
    #[serde(borrow)]
    stream_options: Option<&'a RawValue>,
    #[serde(borrow)]
    n: Option<&'a RawValue>,
    #[serde(borrow)]
    max_tokens: Option<&'a RawValue>,
    #[serde(borrow)]
    max_completion_tokens: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow)]
    role: Option<&'a RawValue>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawPart<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawStreamOptions<'a> {
    #[serde(borrow)]
    include_usage: Option<&'a RawValue>,
}

/// A validated request turned into the answer the mock will give.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) model: String,
    pub(crate) content: String,
    pub(crate) finish_reason: &'static str,
    pub(crate) prompt_tokens: u64,
    /// Per choice; usage reports `n` times this.
    pub(crate) completion_tokens: u64,
    pub(crate) n: u32,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
}

pub(crate) async fn handle(State(state): State<Arc<MockState>>, req: Request) -> Response {
    match super::authorized_body(&state, req, MockState::count_chat).await {
        Ok(body) => super::answer(respond(&state, &body).await),
        Err(refused) => refused,
    }
}

async fn respond(state: &MockState, body: &[u8]) -> Result<Response, ApiError> {
    let raw: RawChat = json::parse_object(body)?;
    let model = json::model(raw.model)?;
    state.count_chat_model(&model);
    let fault = Fault::from_model(&model);
    if let Some(fault) = fault
        && let Some(resp) = fault.before(state).await
    {
        return Ok(resp);
    }
    let completion = validate(state, &raw, model)?;
    let truncate = fault == Some(Fault::Truncate);
    let id = completion_id();
    let created = unix_now();
    if completion.stream {
        return Ok(stream::response(completion, &id, created, truncate));
    }
    let body = completion_body(&completion, &id, created);
    if truncate {
        return Ok(super::faults::truncated(body));
    }
    Ok(json_response(StatusCode::OK, body))
}

fn validate(
    state: &MockState,
    raw: &RawChat<'_>,
    model: Cow<'_, str>,
) -> Result<Completion, ApiError> {
    let (prompt_tokens, last_user) = messages(raw.messages)?;
    state.record_user_message(&last_user);
    let stream = json::boolean(raw.stream, "stream")?.unwrap_or(false);
    let include_usage = match raw.stream_options {
        None => false,
        Some(_) if !stream => return Err(ApiError::stream_options_without_stream()),
        Some(opts) => match Kind::of(opts) {
            Kind::Object => {
                let opts: RawStreamOptions = json::sub(opts)?;
                json::boolean(opts.include_usage, "stream_options.include_usage")?.unwrap_or(false)
            }
            kind => return Err(ApiError::invalid_type("stream_options", "an object", kind)),
        },
    };
    let n = json::bounded_int(raw.n, "n", 1, MAX_N)?.unwrap_or(1);
    let max_tokens = match raw.max_completion_tokens {
        Some(_) => json::bounded_int(
            raw.max_completion_tokens,
            "max_completion_tokens",
            1,
            i64::MAX,
        )?,
        None => json::bounded_int(raw.max_tokens, "max_tokens", 1, i64::MAX)?,
    };

    let mut content = String::with_capacity(6 + last_user.len());
    content.push_str("Echo: ");
    content.push_str(&last_user);
    let limit = max_tokens.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
    let mut words = 0usize;
    let mut end = 0usize;
    let mut finish_reason = "stop";
    for token in Tokens::new(&content) {
        if token.trim_start().is_empty() {
            end += token.len();
            continue;
        }
        if words == limit {
            finish_reason = "length";
            break;
        }
        words += 1;
        end += token.len();
    }
    if finish_reason == "length" {
        content.truncate(end);
    }
    Ok(Completion {
        model: model.into_owned(),
        content,
        finish_reason,
        prompt_tokens,
        completion_tokens: words as u64,
        n: u32::try_from(n).unwrap_or(1),
        stream,
        include_usage,
    })
}

/// Validates `messages`, returning the prompt's token count and the text of
/// the last user message.
fn messages(raw: Option<&RawValue>) -> Result<(u64, Cow<'_, str>), ApiError> {
    let Some(raw) = raw else {
        return Err(ApiError::missing("messages"));
    };
    let kind = Kind::of(raw);
    if kind != Kind::Array {
        return Err(ApiError::invalid_type("messages", "an array", kind));
    }
    let items: Vec<&RawValue> = json::sub(raw)?;
    if items.is_empty() {
        return Err(ApiError::empty_array("messages"));
    }
    let mut prompt_tokens = 0u64;
    let mut last_user: Cow<'_, str> = Cow::Borrowed("");
    for (i, item) in items.into_iter().enumerate() {
        let kind = Kind::of(item);
        if kind != Kind::Object {
            return Err(ApiError::invalid_type(
                &format!("messages[{i}]"),
                "an object",
                kind,
            ));
        }
        let msg: RawMessage = json::sub(item)?;
        let Some(role_raw) = msg.role else {
            return Err(ApiError::missing(&format!("messages[{i}].role")));
        };
        let role = json::string(role_raw).map_err(|kind| {
            ApiError::invalid_type(&format!("messages[{i}].role"), "a string", kind)
        })?;
        if !ROLES.contains(&role.as_ref()) {
            return Err(ApiError::invalid_value(
                &format!("messages[{i}].role"),
                &role,
                SUPPORTED_ROLES,
            ));
        }
        let content_required = matches!(role.as_ref(), "system" | "developer" | "user" | "tool");
        let text = match msg.content {
            None if content_required => {
                return Err(ApiError::missing(&format!("messages[{i}].content")));
            }
            None => Cow::Borrowed(""),
            Some(content) => content_text(content, i)?,
        };
        prompt_tokens += 3 + text.split_whitespace().count() as u64;
        if role == "user" {
            last_user = text;
        }
    }
    Ok((prompt_tokens, last_user))
}

/// The text of a message's `content`: the string itself, or its text parts
/// joined by a space.
fn content_text(raw: &RawValue, i: usize) -> Result<Cow<'_, str>, ApiError> {
    let kind = Kind::of(raw);
    match kind {
        Kind::String => json::string(raw).map_err(|_| ApiError::bad_json()),
        Kind::Array => {
            let parts: Vec<&RawValue> = json::sub(raw)?;
            if parts.is_empty() {
                return Err(ApiError::empty_array(&format!("messages[{i}].content")));
            }
            let mut joined = String::new();
            for (j, part) in parts.into_iter().enumerate() {
                let path = || format!("messages[{i}].content[{j}]");
                let kind = Kind::of(part);
                if kind != Kind::Object {
                    return Err(ApiError::invalid_type(&path(), "an object", kind));
                }
                let part: RawPart = json::sub(part)?;
                let Some(part_type) = part.kind else {
                    return Err(ApiError::missing(&format!("{}.type", path())));
                };
                let part_type = json::string(part_type).map_err(|kind| {
                    ApiError::invalid_type(&format!("{}.type", path()), "a string", kind)
                })?;
                if part_type != "text" {
                    continue;
                }
                let Some(text) = part.text else {
                    return Err(ApiError::missing(&format!("{}.text", path())));
                };
                let text = json::string(text).map_err(|kind| {
                    ApiError::invalid_type(&format!("{}.text", path()), "a string", kind)
                })?;
                if !joined.is_empty() {
                    joined.push(' ');
                }
                joined.push_str(&text);
            }
            Ok(Cow::Owned(joined))
        }
        // Assistant messages may carry `"content": null` alongside tool calls.
        Kind::Null => Ok(Cow::Borrowed("")),
        _ => Err(ApiError::invalid_type(
            &format!("messages[{i}].content"),
            "one of a string or array of objects",
            kind,
        )),
    }
}

/// Splits text into stream tokens: each is a run of whitespace followed by
/// a run of non-whitespace, so a word carries its leading space as OpenAI's
/// deltas do, and the tokens concatenate back to the exact text.
pub(crate) struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { rest: text }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        let word_start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        let word_end = rest[word_start..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |i| word_start + i);
        let (token, tail) = rest.split_at(word_end);
        self.rest = tail;
        Some(token)
    }
}

pub(crate) fn completion_id() -> String {
    let mut id = String::with_capacity(9 + uuid::fmt::Simple::LENGTH);
    id.push_str("chatcmpl-");
    let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
    id.push_str(uuid::Uuid::new_v4().simple().encode_lower(&mut buf));
    id
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Appends OpenAI's full usage object.
pub(crate) fn push_usage(out: &mut String, prompt: u64, completion: u64) {
    out.push_str("{\"prompt_tokens\":");
    json::push_u64(out, prompt);
    out.push_str(",\"completion_tokens\":");
    json::push_u64(out, completion);
    out.push_str(",\"total_tokens\":");
    json::push_u64(out, prompt + completion);
    out.push_str(
        ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\
         \"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\
         \"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
    );
}

fn completion_body(c: &Completion, id: &str, created: u64) -> String {
    let mut out =
        String::with_capacity(640 + c.model.len() + c.n as usize * (c.content.len() + 128));
    out.push_str("{\"id\":");
    json::push_str(&mut out, id);
    out.push_str(",\"object\":\"chat.completion\",\"created\":");
    json::push_u64(&mut out, created);
    out.push_str(",\"model\":");
    json::push_str(&mut out, &c.model);
    out.push_str(",\"choices\":[");
    for i in 0..c.n {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"index\":");
        json::push_u64(&mut out, u64::from(i));
        out.push_str(",\"message\":{\"role\":\"assistant\",\"content\":");
        json::push_str(&mut out, &c.content);
        out.push_str(
            ",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"",
        );
        out.push_str(c.finish_reason);
        out.push_str("\"}");
    }
    out.push_str("],\"usage\":");
    push_usage(
        &mut out,
        c.prompt_tokens,
        c.completion_tokens * u64::from(c.n),
    );
    out.push_str(",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock\"}");
    out
}
