//! Output rules on streams, through a bounded look-behind window.
//! (Also over a provider's own Responses event stream: each text delta and
//! function-call arguments delta is a lane of its output item.)
//!
//! A streamed completion carries several texts, each in its own lane: the
//! content of each choice (`choices[].delta.content`, output phase) and the
//! arguments of each tool call (`choices[].delta.tool_calls[].function
//! .arguments`, keyed by the choice and the call's `index`; tool-arguments
//! phase). Each chunk's text is appended to its lane's look-behind buffer and
//! the rules scan the new text together with the last `window` bytes of that
//! lane, so a match that spans chunks is found.
//!
//! Chunks are held back until every lane they carry text for has received
//! `window` more bytes after the end of that text, or `max_hold` has passed,
//! whichever comes first: a match up to `window` bytes long that starts in
//! a chunk has then been seen whole, so it is caught before any of it
//! reaches the client (unless the hold time ran out), and the latency added
//! to any chunk is at most `max_hold`. Chunks without scanned text (the role,
//! the finish reason, usage) wait only for the chunks before them.
//!
//! A block ends the stream with an error event. A redact rule replaces the
//! match in the chunks still held; if part of the match was already sent
//! (the hold time ran out), it cannot be unsent, so the stream ends instead
//! (failing closed). Placeholders from a redacted prompt are restored chunk
//! by chunk as chunks are released.
//!
//! Only pattern and keyword rules run here: semantic and webhook rules need
//! a whole text, which a stream only has once it has been sent.

use super::binding::Binding;
use super::pack::phase_label;
use super::stage::{RequestGuard, record};
use super::{Action, Phase, Redactions};
use crate::error::GatewayError;
use crate::guardrails::Guardrails;
use crate::metrics::GuardrailDecisions;
use bytes::Bytes;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Which text of the stream a lane carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaneKey {
    Content {
        choice: u64,
    },
    Arguments {
        choice: u64,
        call: u64,
    },
    /// A Responses stream's `output_text` part (`output_index`, `content_index`).
    ItemText {
        item: u64,
        part: u64,
    },
    /// A Responses stream's function call arguments (`output_index`).
    ItemArguments {
        item: u64,
    },
}

/// One text of the stream, as it grows.
struct Lane {
    key: LaneKey,
    phase: Phase,
    /// Whether any output rule applies to this lane's phase.
    scanned: bool,
    /// The look-behind: the tail of the text so far.
    text: String,
    /// Offset (bytes from the lane's start) of `text[0]`.
    text_base: usize,
    /// Bytes received so far (scanned lanes only).
    received: usize,
}

/// A chunk's contribution to one lane.
struct Piece {
    lane: usize,
    /// Where the string sits in the chunk's JSON.
    pointer: String,
    /// Offset in the lane where this piece begins.
    start: usize,
    /// The text as the model wrote it.
    text: String,
    /// Redactions inside `text`: byte range and what replaces it.
    cuts: Vec<(usize, usize, String)>,
}

struct Held {
    /// The chunk as the upstream sent it.
    json: Bytes,
    at: Instant,
    pieces: Vec<Piece>,
}

pub struct StreamGuard {
    decisions: GuardrailDecisions,
    request_id: String,
    team: String,
    bindings: Vec<Arc<Binding>>,
    restore: Option<Redactions>,
    /// Placeholders for output redactions; never restored.
    output_redactions: Redactions,
    window: usize,
    max_hold: Duration,
    lanes: Vec<Lane>,
    held: VecDeque<Held>,
}

/// The text of a Responses event (the `data:` of a provider's own
/// Responses stream): a text or arguments delta, keyed by its output item.
fn event_text(value: &Value) -> Option<(LaneKey, String, String)> {
    let index = |key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    let key = match value.get("type").and_then(Value::as_str)? {
        "response.output_text.delta" => LaneKey::ItemText {
            item: index("output_index"),
            part: index("content_index"),
        },
        "response.function_call_arguments.delta" => LaneKey::ItemArguments {
            item: index("output_index"),
        },
        _ => return None,
    };
    let text = value.get("delta").and_then(Value::as_str)?;
    Some((key, "/delta".to_owned(), text.to_owned()))
}

/// Every non-empty text of a chunk (or of a Responses event): its lane,
/// JSON pointer and text.
fn texts_of(json: &[u8]) -> Vec<(LaneKey, String, String)> {
    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return Vec::new();
    };
    let mut out: Vec<_> = event_text(&value).into_iter().collect();
    let choices = value.get("choices").and_then(Value::as_array);
    for (c, choice) in choices.into_iter().flatten().enumerate() {
        let choice_index = choice
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(c as u64);
        let Some(delta) = choice.get("delta") else {
            continue;
        };
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            let key = LaneKey::Content {
                choice: choice_index,
            };
            out.push((key, format!("/choices/{c}/delta/content"), text.to_owned()));
        }
        let calls = delta.get("tool_calls").and_then(Value::as_array);
        for (t, call) in calls.into_iter().flatten().enumerate() {
            if let Some(text) = call.pointer("/function/arguments").and_then(Value::as_str) {
                let key = LaneKey::Arguments {
                    choice: choice_index,
                    // `index` names the call across chunks; later chunks
                    // carry no id.
                    call: call
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(t as u64),
                };
                let pointer = format!("/choices/{c}/delta/tool_calls/{t}/function/arguments");
                out.push((key, pointer, text.to_owned()));
            }
        }
    }
    out.retain(|(_, _, text)| !text.is_empty());
    out
}

impl StreamGuard {
    /// A guard for this request's stream, if it needs one.
    pub fn new(
        guardrails: &Guardrails,
        decisions: &GuardrailDecisions,
        request_id: &str,
        team: &str,
        guard: RequestGuard,
    ) -> Option<Self> {
        if !guard.guards_output() {
            return None;
        }
        let restore = (guard.restore && !guard.redactions.is_empty()).then_some(guard.redactions);
        let window = guardrails.stream_window_bytes;
        let max_hold = guardrails.stream_max_hold;
        Some(Self {
            decisions: decisions.clone(),
            request_id: request_id.to_owned(),
            team: team.to_owned(),
            bindings: guard.bindings,
            restore,
            output_redactions: Redactions::default(),
            window,
            max_hold,
            lanes: Vec::new(),
            held: VecDeque::new(),
        })
    }

    /// The lane for `key`, created on first sight.
    fn lane(&mut self, key: LaneKey) -> usize {
        if let Some(index) = self.lanes.iter().position(|lane| lane.key == key) {
            return index;
        }
        let phase = match key {
            LaneKey::Content { .. } | LaneKey::ItemText { .. } => Phase::Output,
            LaneKey::Arguments { .. } | LaneKey::ItemArguments { .. } => Phase::ToolArguments,
        };
        let scanned = self.bindings.iter().any(|b| b.engine.covers(phase));
        self.lanes.push(Lane {
            key,
            phase,
            scanned,
            text: String::new(),
            text_base: 0,
            received: 0,
        });
        self.lanes.len() - 1
    }

    /// Takes one upstream chunk (its JSON payload). An error means the
    /// stream must end with that error event.
    pub fn push(&mut self, json: Bytes, now: Instant) -> Result<(), GatewayError> {
        let mut pieces = Vec::new();
        let mut scans = Vec::new();
        for (key, pointer, text) in texts_of(&json) {
            let lane = self.lane(key);
            let state = &mut self.lanes[lane];
            if !state.scanned && self.restore.is_none() {
                continue;
            }
            let start = state.received;
            if state.scanned {
                state.text.push_str(&text);
                state.received += text.len();
                scans.push((lane, start));
            }
            pieces.push(Piece {
                lane,
                pointer,
                start,
                text,
                cuts: Vec::new(),
            });
        }
        self.held.push_back(Held {
            json,
            at: now,
            pieces,
        });
        for (lane, start) in scans {
            self.scan(lane, start)?;
        }
        Ok(())
    }

    /// The chunk to send: output redactions applied, then placeholders from
    /// the prompt restored; re-encoded only when something changed.
    fn render(&self, held: Held) -> Bytes {
        let mut changes = Vec::new();
        for piece in held.pieces {
            let mut text = piece.text.clone();
            let mut cuts = piece.cuts;
            // From the end, so earlier offsets stay valid; of overlapping
            // cuts (a match that grew with a later chunk) the longest wins.
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
            if text != piece.text {
                changes.push((piece.pointer, text));
            }
        }
        if changes.is_empty() {
            return held.json;
        }
        let Ok(mut value) = serde_json::from_slice::<Value>(&held.json) else {
            return held.json;
        };
        for (pointer, text) in changes {
            if let Some(slot) = value.pointer_mut(&pointer) {
                *slot = Value::String(text);
            }
        }
        serde_json::to_vec(&value)
            .map(Bytes::from)
            .unwrap_or(held.json)
    }

    /// Replaces range `[start, end)` of `lane` in the held chunks with
    /// `placeholder` (in the first piece it touches). False if part of it
    /// was already released.
    fn cut_held(&mut self, lane: usize, start: usize, end: usize, placeholder: String) -> bool {
        let mut pieces = self
            .held
            .iter_mut()
            .flat_map(|held| held.pieces.iter_mut())
            .filter(|piece| piece.lane == lane)
            .peekable();
        if pieces.peek().is_none_or(|first| first.start > start) {
            return false;
        }
        let mut placeholder = Some(placeholder);
        for piece in pieces {
            let (from, to) = (
                start.max(piece.start),
                end.min(piece.start + piece.text.len()),
            );
            if from < to {
                let replacement = placeholder.take().unwrap_or_default();
                piece
                    .cuts
                    .push((from - piece.start, to - piece.start, replacement));
            }
        }
        true
    }

    /// Scans `lane` from `window` bytes before `new_start` to its end;
    /// findings that end before `new_start` were seen by an earlier scan.
    fn scan(&mut self, lane: usize, new_start: usize) -> Result<(), GatewayError> {
        let state = &self.lanes[lane];
        let phase = state.phase;
        let mut from = new_start.saturating_sub(self.window).max(state.text_base) - state.text_base;
        while !state.text.is_char_boundary(from) {
            from -= 1;
        }
        let region = &state.text[from..];
        let region_base = state.text_base + from;
        let mut cut_list = Vec::new();
        for binding in &self.bindings {
            let mut decision = binding.engine.check(phase, region);
            decision
                .findings
                .retain(|f| region_base + f.end > new_start);
            if decision.is_clean() {
                continue;
            }
            record(
                &self.decisions,
                &self.request_id,
                &self.team,
                phase,
                &decision,
            );
            if let Some(finding) = decision.blocking() {
                return Err(GatewayError::ContentPolicy {
                    rule: finding.rule.to_string(),
                    phase: phase_label(phase),
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
            if !self.cut_held(lane, start, end, placeholder) {
                return Err(GatewayError::ContentPolicy {
                    rule,
                    phase: phase_label(phase),
                    param: None,
                });
            }
        }
        // Keep only the look-behind.
        let state = &mut self.lanes[lane];
        if state.text.len() > 2 * self.window + 64 {
            let mut cut = state.text.len() - self.window;
            while !state.text.is_char_boundary(cut) {
                cut -= 1;
            }
            state.text.drain(..cut);
            state.text_base += cut;
        }
        Ok(())
    }

    /// Whether a held chunk has been seen `window` bytes past its end in
    /// every lane it carries scanned text for.
    fn settled(&self, held: &Held) -> bool {
        held.pieces.iter().all(|piece| {
            let lane = &self.lanes[piece.lane];
            !lane.scanned || lane.received >= piece.start + piece.text.len() + self.window
        })
    }

    /// Chunks that may go to the client now, in order.
    pub fn release(&mut self, now: Instant, out: &mut impl FnMut(Bytes)) {
        while let Some(front) = self.held.front() {
            if !self.settled(front) && now < front.at + self.max_hold {
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
mod tests;
