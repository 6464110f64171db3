//! `POST /model/{modelId}/converse` and `/converse-stream`: a mock of the
//! Bedrock runtime that checks SigV4 as AWS does (the `Authorization` shape,
//! the credential scope, `x-amz-date` within 15 minutes, and the signature
//! itself, recomputed over the request as received) and the Converse schema
//! (roles alternating from a first user turn, one field per content block,
//! every `toolResult` answering a `toolUse`, no unknown keys). It answers in
//! Bedrock's shapes: the Converse response, AWS event-stream frames, and
//! `{"message": ...}` errors with `x-amzn-ErrorType`.
//!
//! The mock's access key id and secret are both the mock's `api_key`.
//! Faults by model id: `fault-throttle` (429 ThrottlingException),
//! `fault-stream-exception` (an exception frame mid-stream), `fault-truncate`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue as FrameValue, Message};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::wire_common::{self, Reply, echo_words, text_tokens};
use super::{MockState, json_response, read_body};
use crate::sigv4::{SERVICE, expected_signature, parse_amz_date};

const TOP_LEVEL: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
];
const BLOCK_FIELDS: &[&str] = &[
    "text",
    "image",
    "document",
    "toolUse",
    "toolResult",
    "reasoningContent",
    "cachePoint",
];
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

fn error(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Response {
    let mut response = json_response(status, json!({"message": message.into()}).to_string());
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    response
}

fn forbidden(kind: &'static str, message: impl Into<String>) -> Response {
    error(StatusCode::FORBIDDEN, kind, message)
}

fn invalid(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "ValidationException", message)
}

pub(crate) async fn handle(
    State(state): State<Arc<MockState>>,
    Path((model, action)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    state.record_credential(parts.headers.get(header::AUTHORIZATION));
    let stream = match action.as_str() {
        "converse" => false,
        "converse-stream" => true,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "Unknown operation",
            );
        }
    };
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(_) => return invalid("could not read the request body"),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if let Err(response) = verify_signature(&state.options().api_key, &parts.headers, path, &body) {
        return response;
    }
    state.count_chat();
    if model == "fault-throttle" {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        );
    }
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return invalid("Malformed input request, please reformat your input and try again.");
    };
    let reply = match validate(&request) {
        Ok(reply) => reply,
        Err(message) => return invalid(message),
    };
    if stream {
        return event_stream(&model, &reply);
    }
    json_response(StatusCode::OK, response(&reply).to_string())
}

/// Checks the SigV4 `Authorization` header the way AWS does.
#[expect(
    clippy::result_large_err,
    reason = "the refusal is the mock's HTTP answer, built only for rejected requests"
)]
fn verify_signature(
    key: &str,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
) -> Result<(), Response> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = text("authorization").ok_or_else(|| {
        forbidden(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    })?;
    let incomplete = || {
        forbidden(
            "IncompleteSignatureException",
            format!(
                "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={authorization}"
            ),
        )
    };
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(incomplete)?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(", ") {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(incomplete()),
        }
    }
    let (credential, signed_headers, signature) = match (credential, signed_headers, signature) {
        (Some(c), Some(h), Some(s))
            if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            (c, h, s)
        }
        _ => return Err(incomplete()),
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope[..] else {
        return Err(incomplete());
    };
    if access_key != key {
        return Err(forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if service != SERVICE {
        return Err(forbidden(
            "InvalidSignatureException",
            format!("Credential should be scoped to correct service: '{SERVICE}'."),
        ));
    }
    let amz_date = text("x-amz-date").ok_or_else(|| {
        forbidden(
            "IncompleteSignatureException",
            "Missing the x-amz-date header",
        )
    })?;
    let time = parse_amz_date(amz_date).filter(|_| amz_date.starts_with(date))
        .ok_or_else(|| forbidden("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"))?;
    let skew = SystemTime::now()
        .duration_since(time)
        .unwrap_or_else(|e| e.duration());
    if skew > MAX_CLOCK_SKEW {
        return Err(forbidden(
            "InvalidSignatureException",
            format!(
                "Signature expired: {amz_date} is now earlier or later than the allowed 15 minutes"
            ),
        ));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(forbidden(
            "InvalidSignatureException",
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    // The signer adds host, x-amz-date and the session token itself.
    let mut signed = Vec::new();
    for name in names
        .iter()
        .filter(|n| !matches!(**n, "host" | "x-amz-date" | "x-amz-security-token"))
    {
        signed.push((*name, text(name).unwrap_or("")));
    }
    let host = text("host").unwrap_or("");
    let url = format!("http://{host}{path}");
    if !url
        .parse::<axum::http::Uri>()
        .is_ok_and(|u| u.authority().is_some())
    {
        return Err(invalid("Host header is not valid"));
    }
    let token = text("x-amz-security-token").map(str::to_owned);
    let credentials = Credentials::new(key, key, token, None, "mock");
    let expected = expected_signature(&url, &signed, body, credentials, region, time)
        .map_err(|_| incomplete())?;
    if expected != signature {
        return Err(forbidden(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(())
}

fn validate(request: &Map<String, Value>) -> Result<Reply, String> {
    let pointer = |path: &str| {
        let (first, rest) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path, ""));
        request.get(first).and_then(|v| {
            if rest.is_empty() {
                Some(v)
            } else {
                v.pointer(&format!("/{rest}"))
            }
        })
    };
    if let Some(key) = request.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(format!(
            "Malformed input request: extraneous key [{key}] is not permitted, please reformat your input and try again."
        ));
    }
    let messages = request.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty())
        .ok_or("A conversation must start with a user message. Try again with a conversation that starts with a user message.")?;
    let mut prompt_tokens: u64 = request
        .get("system")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .map(text_tokens)
        .sum();
    let mut pending: Vec<String> = Vec::new();
    let mut previous_role = "";
    let mut last_user_text = String::new();
    let mut last_is_result = false;
    let mut saw_tool_blocks = false;
    for (index, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(format!(
                "1 validation error detected: Value '{role}' at 'messages.{}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                index + 1
            ));
        }
        if index == 0 && role != "user" {
            return Err("A conversation must start with a user message. Try again with a conversation that starts with a user message.".into());
        }
        if role == previous_role {
            return Err("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into());
        }
        previous_role = if role == "user" { "user" } else { "assistant" };
        let blocks = message.get("content").and_then(Value::as_array).filter(|c| !c.is_empty())
            .ok_or(format!("The content field in the Message object at messages.{index} is empty. Add a ContentBlock object to the content field and try again."))?;
        let mut uses = Vec::new();
        let mut answered = Vec::new();
        let mut text = String::new();
        for block in blocks {
            let object = block
                .as_object()
                .ok_or("Malformed input request, please reformat your input and try again.")?;
            if object.len() != 1 || !object.keys().all(|k| BLOCK_FIELDS.contains(&k.as_str())) {
                return Err(format!(
                    "Malformed input request: messages.{index}.content: each ContentBlock must set exactly one member, please reformat your input and try again."
                ));
            }
            if let Some(t) = block.get("text").and_then(Value::as_str) {
                text.push_str(t);
                prompt_tokens += text_tokens(t);
            }
            if let Some(image) = block.get("image") {
                let format = image.get("format").and_then(Value::as_str).unwrap_or("");
                if !["png", "jpeg", "gif", "webp"].contains(&format)
                    || !image.pointer("/source/bytes").is_some_and(Value::is_string)
                {
                    return Err(format!(
                        "Malformed input request: messages.{index}.content.image: format must be png, jpeg, gif or webp and source.bytes is required"
                    ));
                }
            }
            if let Some(tool_use) = block.get("toolUse") {
                saw_tool_blocks = true;
                if role != "assistant" {
                    return Err("toolUse blocks are only allowed in assistant messages".into());
                }
                uses.push(
                    tool_use
                        .get("toolUseId")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                );
            }
            if let Some(result) = block.get("toolResult") {
                saw_tool_blocks = true;
                let id = result
                    .get("toolUseId")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !pending.iter().any(|p| p == id) {
                    return Err(format!(
                        "The toolResult block with toolUseId {id} does not match a toolUse block in the previous turn."
                    ));
                }
                answered.push(id.to_owned());
            }
        }
        if pending.iter().any(|id| !answered.contains(id)) {
            return Err("Expected toolResult blocks at messages.{index}.content for the toolUse blocks of the previous turn.".replace("{index}", &index.to_string()));
        }
        if role == "user" {
            last_user_text = text;
            last_is_result = !answered.is_empty();
        }
        pending = uses;
    }
    let tools = pointer("/toolConfig/tools").and_then(Value::as_array);
    if saw_tool_blocks && tools.is_none() {
        return Err("The toolConfig field must be defined when using toolUse and toolResult content blocks.".into());
    }
    let mut declared = Vec::new();
    for tool in tools.into_iter().flatten() {
        let spec = tool
            .get("toolSpec")
            .ok_or("Malformed input request: toolConfig.tools: toolSpec is required")?;
        let name = spec
            .get("name")
            .and_then(Value::as_str)
            .ok_or("Malformed input request: toolSpec.name is required")?;
        let schema = spec
            .pointer("/inputSchema/json")
            .ok_or("Malformed input request: toolSpec.inputSchema.json is required")?;
        declared.push((name.to_owned(), wire_common::input_for(schema)));
    }
    let max_tokens = pointer("/inferenceConfig/maxTokens")
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);
    let forced = pointer("/toolConfig/toolChoice/tool/name").and_then(Value::as_str);
    let call = match declared.first() {
        Some(first) if !last_is_result => Some(
            forced
                .and_then(|n| declared.iter().find(|t| t.0 == n))
                .unwrap_or(first)
                .clone(),
        ),
        _ => None,
    };
    Ok(wire_common::reply(
        prompt_tokens,
        &last_user_text,
        max_tokens,
        call,
    ))
}

fn stop_reason(reply: &Reply) -> &'static str {
    match (&reply.call, reply.truncated) {
        (Some(_), _) => "tool_use",
        (None, true) => "max_tokens",
        (None, false) => "end_turn",
    }
}

fn usage(reply: &Reply) -> Value {
    json!({"inputTokens": reply.prompt_tokens, "outputTokens": reply.completion_tokens,
           "totalTokens": reply.prompt_tokens + reply.completion_tokens})
}

fn response(reply: &Reply) -> Value {
    let content = match &reply.call {
        Some((name, input)) => {
            json!([{"toolUse": {"toolUseId": reply.call_id, "name": name, "input": input}}])
        }
        None => json!([{"text": reply.text}]),
    };
    json!({"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop_reason(reply),
           "usage": usage(reply), "metrics": {"latencyMs": 12}})
}

fn frame(headers: &[(&str, &str)], payload: &Value) -> Bytes {
    let mut message = Message::new(payload.to_string().into_bytes());
    for (name, value) in headers {
        message = message.add_header(Header::new(
            name.to_string(),
            FrameValue::String(value.to_string().into()),
        ));
    }
    let mut out = Vec::new();
    // Writing to a Vec cannot fail for these small frames.
    let _ = write_message_to(&message, &mut out);
    Bytes::from(out)
}

fn event(kind: &str, payload: Value) -> Bytes {
    frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        &payload,
    )
}

fn event_stream(model: &str, reply: &Reply) -> Response {
    let mut frames = vec![event("messageStart", json!({"role": "assistant"}))];
    if model == "fault-stream-exception" {
        frames.push(frame(
            &[
                (":exception-type", "throttlingException"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            &json!({"message": "Too many requests, please wait before trying again."}),
        ));
        return stream_response(frames);
    }
    match &reply.call {
        Some((name, input)) => {
            frames.push(event("contentBlockStart", json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": reply.call_id, "name": name}}})));
            let input = input.to_string();
            let (first, second) = input.split_at(input.len() / 2);
            for piece in [first, second] {
                frames.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}}),
                ));
            }
        }
        None => {
            for word in echo_words(&reply.text) {
                frames.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"text": word}}),
                ));
            }
        }
    }
    if model != "fault-truncate" {
        frames.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
        frames.push(event(
            "messageStop",
            json!({"stopReason": stop_reason(reply)}),
        ));
        frames.push(event(
            "metadata",
            json!({"usage": usage(reply), "metrics": {"latencyMs": 12}}),
        ));
    }
    stream_response(frames)
}

fn stream_response(frames: Vec<Bytes>) -> Response {
    let mut response = wire_common::sse_response(frames, Duration::from_millis(1));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    response
}
