//! Server-sent events for `stream: true`, shaped like OpenAI's
//! `chat.completion.chunk` stream.
//!
//! Events are produced lazily, one per poll of the body, so each goes out as
//! its own chunk instead of being assembled into one buffer up front. Every
//! chunk shares a precomputed prefix (id, created, model…).

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use super::chat::{Completion, Tokens, push_usage};
use super::json;

/// How many content chunks `fault-truncate` sends before ending the body.
const TRUNCATE_AFTER: usize = 2;

pub(crate) fn response(completion: Completion, id: &str, created: u64, truncate: bool) -> Response {
    let mut prefix = String::with_capacity(192 + completion.model.len());
    prefix.push_str("data: {\"id\":");
    json::push_str(&mut prefix, id);
    prefix.push_str(",\"object\":\"chat.completion.chunk\",\"created\":");
    json::push_u64(&mut prefix, created);
    prefix.push_str(",\"model\":");
    json::push_str(&mut prefix, &completion.model);
    prefix
        .push_str(",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock\",\"choices\":[");
    let events = Events {
        // OpenAI marks `usage` null on every chunk but the last when usage
        // was requested, and omits the key otherwise.
        suffix: if completion.include_usage {
            "],\"usage\":null}\n\n"
        } else {
            "]}\n\n"
        },
        prefix,
        completion,
        step: Step::Role(0),
        offset: 0,
        content_chunks: 0,
        content_limit: truncate.then_some(TRUNCATE_AFTER),
    };
    let body = Body::from_stream(futures::stream::iter(events.map(Ok::<Bytes, Infallible>)));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Role(u32),
    Content(u32),
    Finish(u32),
    Usage,
    Done,
    End,
}

struct Events {
    prefix: String,
    suffix: &'static str,
    completion: Completion,
    step: Step,
    /// Byte offset of the next content token.
    offset: usize,
    content_chunks: usize,
    content_limit: Option<usize>,
}

impl Events {
    /// One `choices[0]` chunk; `delta` writes the delta object.
    fn chunk(&self, choice: u32, delta: impl FnOnce(&mut String), finish: Option<&str>) -> Bytes {
        let mut out = String::with_capacity(self.prefix.len() + 160);
        out.push_str(&self.prefix);
        out.push_str("{\"index\":");
        json::push_u64(&mut out, u64::from(choice));
        out.push_str(",\"delta\":");
        delta(&mut out);
        out.push_str(",\"logprobs\":null,\"finish_reason\":");
        match finish {
            Some(reason) => json::push_str(&mut out, reason),
            None => out.push_str("null"),
        }
        out.push('}');
        out.push_str(self.suffix);
        Bytes::from(out)
    }

    fn next_choice(&self, choice: u32) -> Option<u32> {
        (choice + 1 < self.completion.n).then_some(choice + 1)
    }
}

impl Iterator for Events {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            match self.step {
                Step::Role(i) => {
                    self.step = self.next_choice(i).map_or(Step::Content(0), Step::Role);
                    return Some(self.chunk(
                        i,
                        |out| out.push_str(r#"{"role":"assistant","content":"","refusal":null}"#),
                        None,
                    ));
                }
                Step::Content(i) => {
                    let limited = self.content_limit.is_some_and(|l| self.content_chunks >= l);
                    let rest = self.completion.content.get(self.offset..).unwrap_or("");
                    let Some(token) = Tokens::new(rest).next().filter(|_| !limited) else {
                        // A truncated stream never reaches its proper end.
                        self.step = if self.content_limit.is_some() {
                            Step::End
                        } else {
                            Step::Finish(0)
                        };
                        continue;
                    };
                    let token_len = token.len();
                    let chunk = self.chunk(
                        i,
                        |out| {
                            out.push_str("{\"content\":");
                            json::push_str(out, token);
                            out.push('}');
                        },
                        None,
                    );
                    match self.next_choice(i) {
                        Some(next) => self.step = Step::Content(next),
                        None => {
                            self.offset += token_len;
                            self.content_chunks += 1;
                            self.step = Step::Content(0);
                        }
                    }
                    return Some(chunk);
                }
                Step::Finish(i) => {
                    self.step = match self.next_choice(i) {
                        Some(next) => Step::Finish(next),
                        None if self.completion.include_usage => Step::Usage,
                        None => Step::Done,
                    };
                    return Some(self.chunk(
                        i,
                        |out| out.push_str("{}"),
                        Some(self.completion.finish_reason),
                    ));
                }
                Step::Usage => {
                    self.step = Step::Done;
                    let c = &self.completion;
                    let mut out = String::with_capacity(self.prefix.len() + 320);
                    out.push_str(&self.prefix);
                    out.push_str("],\"usage\":");
                    push_usage(
                        &mut out,
                        c.prompt_tokens,
                        c.completion_tokens * u64::from(c.n),
                    );
                    out.push_str("}\n\n");
                    return Some(Bytes::from(out));
                }
                Step::Done => {
                    self.step = Step::End;
                    return Some(Bytes::from_static(b"data: [DONE]\n\n"));
                }
                Step::End => return None,
            }
        }
    }
}
