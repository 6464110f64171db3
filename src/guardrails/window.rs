//! Output rules on streams, through a bounded look-behind window.
//!
//! Each chunk's content is appended to a look-behind buffer and the rules
//! scan the new text together with the last `window` bytes before it, so a
//! match that spans chunks is found. Chunks are held back until `window`
//! more bytes of content have arrived after their start, or `max_hold` has
//! passed, whichever comes first: a match up to `window` bytes long is thus
//! caught before any of it reaches the client (unless the hold time ran
//! out), and the latency added to any chunk is at most `max_hold`.
//!
//! A block ends the stream with an error event. A redact rule replaces the
//! match in the chunks still held; if part of the match was already sent
//! (the hold time ran out), it cannot be unsent, so the stream ends instead
//! (failing closed). Placeholders from a redacted prompt are restored chunk
//! by chunk as chunks are released.

use super::binding::Binding;
use super::stage::{RequestGuard, record};
use super::{Action, Phase, Redactions};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use bytes::Bytes;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

struct Held {
    /// The chunk as the upstream sent it.
    json: Bytes,
    /// Content offset (bytes from the stream's start) where this chunk's content begins.
    start: usize,
    at: Instant,
    /// The content as the model wrote it.
    content: Option<String>,
    /// Redactions inside `content`: byte range and what replaces it.
    cuts: Vec<(usize, usize, String)>,
}

pub struct StreamGuard {
    gateway: Arc<Gateway>,
    request_id: String,
    team: String,
    bindings: Vec<Arc<Binding>>,
    scans_output: bool,
    restore: Option<Redactions>,
    /// Placeholders for output redactions; never restored.
    output_redactions: Redactions,
    window: usize,
    max_hold: Duration,
    /// The look-behind: the tail of the content so far.
    text: String,
    /// Content offset of `text[0]`.
    text_base: usize,
    /// Content bytes received so far.
    received: usize,
    held: VecDeque<Held>,
}

impl StreamGuard {
    /// A guard for this request's stream, if it needs one.
    pub fn new(
        gateway: Arc<Gateway>,
        request_id: &str,
        team: &str,
        guard: RequestGuard,
    ) -> Option<Self> {
        if !guard.guards_output() {
            return None;
        }
        let scans_output = guard
            .bindings
            .iter()
            .any(|b| b.engine.covers(Phase::Output));
        let restore = (guard.restore && !guard.redactions.is_empty()).then_some(guard.redactions);
        let window = gateway.guardrails.stream_window_bytes;
        let max_hold = gateway.guardrails.stream_max_hold;
        Some(Self {
            gateway,
            request_id: request_id.to_owned(),
            team: team.to_owned(),
            bindings: guard.bindings,
            scans_output,
            restore,
            output_redactions: Redactions::default(),
            window,
            max_hold,
            text: String::new(),
            text_base: 0,
            received: 0,
            held: VecDeque::new(),
        })
    }

    /// Takes one upstream chunk (its JSON payload). An error means the
    /// stream must end with that error event.
    pub fn push(&mut self, json: Bytes, now: Instant) -> Result<(), GatewayError> {
        let start = self.received;
        let content = serde_json::from_slice::<Value>(&json)
            .ok()
            .and_then(|value| {
                value
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        if let Some(content) = &content {
            self.text.push_str(content);
            self.received += content.len();
        }
        let scan = content.is_some() && self.scans_output;
        self.held.push_back(Held {
            json,
            start,
            at: now,
            content,
            cuts: Vec::new(),
        });
        if scan {
            self.scan(start)?;
        }
        Ok(())
    }

    /// The chunk to send: output redactions applied, then placeholders from
    /// the prompt restored; re-encoded only when something changed.
    fn render(&self, held: Held) -> Bytes {
        let Some(content) = held.content else {
            return held.json;
        };
        let mut text = content.clone();
        let mut cuts = held.cuts;
        // From the end, so earlier offsets stay valid; of overlapping cuts
        // (a match that grew with a later chunk) the longest wins.
        cuts.sort_by_key(|cut| (std::cmp::Reverse(cut.0), std::cmp::Reverse(cut.1)));
        let mut limit = usize::MAX;
        for (start, end, replacement) in cuts {
            if end <= limit && text.is_char_boundary(start) && text.is_char_boundary(end) {
                text.replace_range(start..end, &replacement);
                limit = start;
            }
        }
        if let Some(redactions) = &self.restore
            && let std::borrow::Cow::Owned(restored) = redactions.restore(&text)
        {
            text = restored;
        }
        if text == content {
            return held.json;
        }
        let Ok(mut value) = serde_json::from_slice::<Value>(&held.json) else {
            return held.json;
        };
        if let Some(slot) = value.pointer_mut("/choices/0/delta/content") {
            *slot = Value::String(text);
        }
        serde_json::to_vec(&value)
            .map(Bytes::from)
            .unwrap_or(held.json)
    }

    /// Replaces content range `[start, end)` in the held chunks with
    /// `placeholder` (in the first chunk it touches). False if part of it
    /// was already released.
    fn cut_held(&mut self, start: usize, end: usize, placeholder: String) -> bool {
        if self.held.front().is_none_or(|h| h.start > start) {
            return false;
        }
        let mut placeholder = Some(placeholder);
        for held in &mut self.held {
            let len = held.content.as_ref().map_or(0, String::len);
            let (from, to) = (start.max(held.start), end.min(held.start + len));
            if from < to {
                let replacement = placeholder.take().unwrap_or_default();
                held.cuts
                    .push((from - held.start, to - held.start, replacement));
            }
        }
        true
    }

    /// Scans the text from `window` bytes before `new_start` to the end;
    /// findings that end before `new_start` were seen by an earlier scan.
    fn scan(&mut self, new_start: usize) -> Result<(), GatewayError> {
        let mut from = new_start.saturating_sub(self.window).max(self.text_base) - self.text_base;
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        let region = &self.text[from..];
        let region_base = self.text_base + from;
        let mut cut_list = Vec::new();
        for binding in &self.bindings {
            let mut decision = binding.engine.check(Phase::Output, region);
            decision
                .findings
                .retain(|f| region_base + f.end > new_start);
            if decision.is_clean() {
                continue;
            }
            record(
                &self.gateway,
                &self.request_id,
                &self.team,
                Phase::Output,
                &decision,
            );
            if let Some(finding) = decision.blocking() {
                return Err(GatewayError::ContentPolicy {
                    rule: finding.rule.to_string(),
                    phase: "output",
                    param: None,
                });
            }
            // Overlapping redactions: the first (then longest) wins.
            let mut taken = 0;
            for f in decision
                .findings
                .iter()
                .filter(|f| f.action == Action::Redact)
            {
                if f.start < taken {
                    continue;
                }
                taken = f.end;
                cut_list.push((
                    f.rule.to_string(),
                    region_base + f.start,
                    region_base + f.end,
                    f.label.clone(),
                    region[f.start..f.end].to_owned(),
                ));
            }
        }
        for (rule, start, end, label, original) in cut_list {
            let placeholder = self.output_redactions.placeholder(&label, &original);
            if !self.cut_held(start, end, placeholder) {
                return Err(GatewayError::ContentPolicy {
                    rule,
                    phase: "output",
                    param: None,
                });
            }
        }
        // Keep only the look-behind.
        if self.text.len() > 2 * self.window + 64 {
            let mut cut = self.text.len() - self.window;
            while !self.text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.drain(..cut);
            self.text_base += cut;
        }
        Ok(())
    }

    /// Chunks that may go to the client now, in order.
    pub fn release(&mut self, now: Instant, out: &mut impl FnMut(Bytes)) {
        while let Some(front) = self.held.front() {
            let seen_after = self.received - front.start;
            if seen_after < self.window && now < front.at + self.max_hold {
                break;
            }
            if let Some(held) = self.held.pop_front() {
                out(self.render(held));
            }
        }
    }

    /// Everything held, at the end of the stream.
    pub fn flush(&mut self, out: &mut impl FnMut(Bytes)) {
        while let Some(held) = self.held.pop_front() {
            out(self.render(held));
        }
    }

    /// When the oldest held chunk must go out at the latest.
    pub fn next_release(&self) -> Option<Instant> {
        self.held.front().map(|h| h.at + self.max_hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::chat::ChatRequest;

    /// A gateway whose team `t` has `packs` bound on output, a 16-byte
    /// window and a 100 ms hold.
    fn guard(packs: &str, prompt: &str) -> StreamGuard {
        crate::install_crypto_provider();
        let text = format!(
            "[[teams]]\nid = \"t\"\n[guardrails]\nstream_window_bytes = 16\nstream_max_hold = \"100ms\"\n[[guardrails.bindings]]\npacks = [{packs}]\nrestore = true\n"
        );
        let config =
            crate::config::load_str("t.toml", &text, None, std::path::Path::new(".")).unwrap();
        let gateway = Gateway::build_with_env(config, &|_| None).unwrap();
        let mut request: ChatRequest = serde_json::from_value(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": prompt}]
        }))
        .unwrap();
        let request_guard = futures::executor::block_on(RequestGuard::check_request(
            &gateway,
            "r",
            "t",
            &mut request,
        ))
        .unwrap();
        StreamGuard::new(gateway, "r", "t", request_guard).unwrap()
    }

    fn chunk(text: &str) -> Bytes {
        Bytes::from(
            serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]}).to_string(),
        )
    }

    fn released(guard: &mut StreamGuard, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        guard.release(now, &mut |json| {
            let value: Value = serde_json::from_slice(&json).unwrap();
            out.push(
                value["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        });
        out
    }

    // Time is passed in, so these need no clock.
    #[test]
    fn chunks_wait_for_the_window_or_the_hold_time() {
        let mut g = guard("\"custom-template\"", "hello");
        let start = Instant::now();
        g.push(chunk("one "), start).unwrap();
        g.push(chunk("two "), start).unwrap();
        assert!(
            released(&mut g, start).is_empty(),
            "8 bytes < 16-byte window"
        );
        g.push(chunk("three four "), start).unwrap();
        // 19 bytes after "one", 15 after "two": only "one" may go.
        assert_eq!(released(&mut g, start), ["one "]);
        assert_eq!(g.next_release(), Some(start + Duration::from_millis(100)));
        let later = start + Duration::from_millis(100);
        assert_eq!(released(&mut g, later), ["two ", "three four "]);
        assert_eq!(g.next_release(), None);
    }

    #[test]
    fn a_match_across_chunks_blocks_and_placeholders_are_restored() {
        let mut g = guard("\"custom-template\", \"pii\"", "write to jane.doe@acme.io");
        let now = Instant::now();
        g.push(chunk("sent to [EMAIL_1] about "), now).unwrap();
        assert_eq!(released(&mut g, now), ["sent to jane.doe@acme.io about "]);
        g.push(chunk("project "), now).unwrap();
        let error = g.push(chunk("bluebird"), now).unwrap_err();
        assert!(
            matches!(error, GatewayError::ContentPolicy { ref rule, .. } if rule == "custom.codenames")
        );
    }

    #[test]
    fn a_redact_rule_rewrites_held_chunks() {
        let mut g = guard("\"pii\"", "hello");
        let now = Instant::now();
        for piece in ["mail jane.", "doe@acme.io", " now, then more text to fill"] {
            g.push(chunk(piece), now).unwrap();
        }
        let mut sent = released(&mut g, now).concat();
        g.flush(&mut |json| {
            let value: Value = serde_json::from_slice(&json).unwrap();
            sent.push_str(value["choices"][0]["delta"]["content"].as_str().unwrap());
        });
        assert_eq!(sent, "mail [EMAIL_1] now, then more text to fill");
    }

    #[test]
    fn a_redaction_whose_start_was_sent_ends_the_stream() {
        let mut g = guard("\"pii\"", "hello");
        let start = Instant::now();
        g.push(chunk("mail jane."), start).unwrap();
        assert_eq!(
            released(&mut g, start + Duration::from_millis(100)),
            ["mail jane."]
        );
        let error = g
            .push(chunk("doe@acme.io"), start + Duration::from_millis(150))
            .unwrap_err();
        assert!(
            matches!(error, GatewayError::ContentPolicy { ref rule, .. } if rule == "pii.email")
        );
    }
}
