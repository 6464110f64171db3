//! Relaying an OpenAI-shaped stream to the client, event by event as it
//! arrives. Along the way it captures usage, drops the usage chunk the client
//! did not ask for, turns an upstream that stops without `[DONE]` into an
//! error event, and settles the request when the stream ends or the client
//! goes away (dropping the relay drops the upstream call with it).

use super::context::RequestCx;
use super::finish::{Outcome, settle_and_record};
use crate::api::chat::Message;
use crate::catalog::Tokenizer;
use crate::cost::{Usage, WireUsage};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::guardrails::window::StreamGuard;
use crate::provider::{ChunkStream, StreamItem};
use crate::quota::Hold as Reservation;
use crate::quota::meter::StreamMeter;
use crate::quota::refusal::{Measure, Refusal};
use crate::quota::window::Window;
use crate::shapes::{DONE_EVENT, sse_event};
use crate::tokens;
use bytes::{Bytes, BytesMut};
use futures::Stream;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::time::{Instant, Sleep};

/// What is needed to settle the request once the stream is over.
pub struct Settlement {
    pub gateway: Arc<Gateway>,
    pub cx: RequestCx,
    pub reservation: Option<Reservation>,
    /// The prompt, counted only if the upstream reports no usage.
    pub messages: Vec<Message>,
    pub tokenizer: Tokenizer,
    /// Stores the answer in the response cache when the stream completes.
    pub cache_fill: Option<crate::cache::stage::Fill>,
}

impl Settlement {
    /// The streamed answer as the client received it, for the request log
    /// of a request that captures content; a stream that did not complete
    /// keeps none and says so.
    pub fn keep_answer(&mut self, answer: &str, outcome: Outcome) {
        let Some(captured) = &mut self.cx.captured else {
            return;
        };
        if matches!(outcome, Outcome::Ok) {
            captured.answer = Some(crate::request_log::Captured::answer(answer));
        } else {
            captured.answer_withheld = Some("the stream did not complete".into());
        }
    }

    /// For a team with a hard cut-off: a meter of the stream's spend, at the
    /// price of the target that serves it.
    pub fn meter(&self) -> Option<StreamMeter> {
        let hold = self.reservation.as_ref()?;
        let served = self.cx.target.as_ref().map_or(hold.price(), |t| t.price);
        let price = served.filter(|_| hold.hard_cutoff)?;
        let prompt = tokens::count_messages(self.tokenizer, &self.messages);
        Some(StreamMeter::new(
            price,
            self.tokenizer,
            prompt,
            hold.reserved_cost,
        ))
    }

    /// The usage to charge: the upstream's, or counted here when it sent none.
    pub fn usage(&self, reported: Option<Usage>, completion_text: &str) -> Usage {
        reported.unwrap_or_else(|| Usage {
            prompt_tokens: tokens::count_messages(self.tokenizer, &self.messages),
            completion_tokens: tokens::count_text(self.tokenizer, completion_text),
            cached_prompt_tokens: 0,
        })
    }

    /// The stream is over: its target's breaker learns how it ended, and
    /// the request is settled and recorded off the client's path.
    pub fn close(self, usage: Usage, status: u16, outcome: Outcome) {
        if let Some(target) = &self.cx.target {
            let now = Instant::now();
            match outcome {
                Outcome::Ok => target.health.on_success(now),
                Outcome::UpstreamBroke => target.health.on_failure(now),
                Outcome::ClientDisconnected | Outcome::Error(_) => {
                    target.health.breaker.on_neutral();
                }
            }
        }
        let Settlement {
            gateway,
            cx,
            reservation,
            ..
        } = self;
        // Settling may touch a shared store; it must not hold up the client.
        // The stream is dropped on a runtime thread; `try_current` only guards
        // against a drop elsewhere turning into a panic.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                settle_and_record(&gateway, cx, reservation, Some(usage), status, outcome).await;
            });
        }
    }
}

pub struct Relay {
    upstream: ChunkStream,
    settlement: Option<Settlement>,
    wants_usage: bool,
    usage: Option<Usage>,
    /// Completion text seen so far, counted only if no usage arrives.
    completion_text: String,
    deadline: Pin<Box<Sleep>>,
    finished: bool,
    /// Every chunk, kept only while the response cache wants the answer.
    collected: Option<Vec<Bytes>>,
    /// Most bytes of chunks held for the cache (its `max_entry_bytes`).
    collect_limit: usize,
    collected_bytes: usize,
    /// Output guardrails: hold chunks in a look-behind window (see
    /// `guardrails::window`). `None` when no output rule applies.
    guard: Option<StreamGuard>,
    /// When the oldest held chunk must be released.
    hold_timer: Option<Pin<Box<Sleep>>>,
    /// Events ready to go out, before anything else is polled.
    out: VecDeque<Bytes>,
    /// For teams with a hard cut-off: the stream's spend so far.
    meter: Option<StreamMeter>,
    /// The meter ran past the reservation: end with an error event.
    cut_off: bool,
    /// The answer as the client receives it (after the output guard), for
    /// a team whose content the request log keeps; bounded by what a row
    /// keeps.
    captured: Option<String>,
}

/// Appends a chunk's text to a captured answer, up to what a row keeps.
fn capture_text(captured: &mut Option<String>, text: &str) {
    if let Some(answer) = captured
        && answer.len() <= crate::request_log::MAX_CAPTURED
    {
        answer.push_str(text);
    }
}

/// The text of a chunk's choices, as released to the client.
fn chunk_text(json: &[u8]) -> String {
    serde_json::from_slice::<ChunkView<'_>>(json)
        .map(|chunk| chunk.texts().collect())
        .unwrap_or_default()
}

impl Relay {
    pub fn new(
        upstream: ChunkStream,
        settlement: Settlement,
        wants_usage: bool,
        deadline: Instant,
    ) -> Self {
        let meter = settlement.meter();
        let collect_limit = settlement
            .cache_fill
            .as_ref()
            .and_then(crate::cache::stage::Fill::stream_limit);
        Self {
            collected: collect_limit.map(|_| Vec::new()),
            collect_limit: collect_limit.unwrap_or(0),
            collected_bytes: 0,
            meter,
            cut_off: false,
            upstream,
            settlement: Some(settlement),
            wants_usage,
            usage: None,
            completion_text: String::new(),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            finished: false,
            guard: None,
            hold_timer: None,
            out: VecDeque::new(),
            captured: None,
        }
    }

    /// Keep the answer for the request log (a team that captures content,
    /// whose prompt had nothing redacted).
    pub fn with_capture(mut self, capture: bool) -> Self {
        self.captured = capture.then(String::new);
        self
    }

    /// Run output guardrails over the stream.
    pub fn with_guard(mut self, guard: Option<StreamGuard>) -> Self {
        self.guard = guard;
        self
    }

    /// Moves what the guard may release (all of it if `flush`) to `out`, and
    /// sets the hold timer for what it still holds.
    fn release_held(&mut self, flush: bool) {
        let Some(guard) = &mut self.guard else {
            return;
        };
        let out = &mut self.out;
        let captured = &mut self.captured;
        let mut push = |json: Bytes| {
            if captured.is_some() {
                capture_text(captured, &chunk_text(&json));
            }
            out.push_back(sse_event(&json));
        };
        if flush {
            guard.flush(&mut push);
        } else {
            guard.release(tokio::time::Instant::now(), &mut push);
        }
        match (guard.next_release(), &mut self.hold_timer) {
            (Some(at), Some(timer)) => timer.as_mut().reset(at),
            (Some(at), None) => self.hold_timer = Some(Box::pin(tokio::time::sleep_until(at))),
            (None, _) => self.hold_timer = None,
        }
    }

    /// Reads usage and text from a chunk; returns whether to forward it.
    fn inspect(&mut self, json: &[u8]) -> bool {
        let Ok(chunk) = serde_json::from_slice::<ChunkView<'_>>(json) else {
            return true;
        };
        for text in chunk.texts() {
            self.completion_text.push_str(text);
            // Without an output guard, what arrives is what goes out.
            if self.guard.is_none() {
                capture_text(&mut self.captured, text);
            }
            if let Some(meter) = &mut self.meter
                && !meter.add(text)
            {
                self.cut_off = true;
            }
        }
        match chunk.usage {
            Some(usage) => {
                self.usage = Some(Usage::from(usage));
                // The usage-only chunk exists because the gateway asked for it.
                self.wants_usage || !chunk.choices.is_empty()
            }
            None => true,
        }
    }

    fn final_usage(&self, settlement: &Settlement) -> Usage {
        settlement.usage(self.usage, &self.completion_text)
    }

    /// The stream completed: hand the whole answer to the response cache.
    fn fill_cache(&mut self) {
        let Some(chunks) = self.collected.take() else {
            return;
        };
        let usage = self.settlement.as_ref().map(|s| self.final_usage(s));
        if let Some(fill) = self.settlement.as_mut().and_then(|s| s.cache_fill.take()) {
            fill.finish_stream(&chunks, usage);
        }
    }

    fn cut_off_error(&self) -> GatewayError {
        cut_off_error(self.meter.as_ref(), self.settlement.as_ref())
    }

    fn finish(&mut self, status: u16, outcome: Outcome) {
        self.finished = true;
        if let Some(mut settlement) = self.settlement.take() {
            if let Some(answer) = self.captured.take() {
                settlement.keep_answer(&answer, outcome);
            }
            let usage = self.final_usage(&settlement);
            settlement.close(usage, status, outcome);
        }
    }
}

/// The error that ends a stream cut off at its reservation.
pub fn cut_off_error(meter: Option<&StreamMeter>, settlement: Option<&Settlement>) -> GatewayError {
    let (spent, reserved) = meter.map_or((0, 0), |meter| (meter.spent().0, meter.reserved().0));
    let team = settlement
        .and_then(|s| s.cx.caller.as_ref())
        .map_or_else(|| "-".to_owned(), |caller| caller.team.to_string());
    GatewayError::QuotaExceeded(Box::new(Refusal {
        scope: format!("team {team} (hard cut-off: this stream's reservation)"),
        measure: Measure::Usd(Window::Total),
        limit: reserved,
        current: spent,
        requested: 0,
        resets_at_ms: None,
        now_ms: 0,
    }))
}

#[derive(Deserialize)]
struct ChunkView<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChoiceView<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

impl ChunkView<'_> {
    /// The content deltas of its choices, in order.
    fn texts(&self) -> impl Iterator<Item = &str> {
        self.choices
            .iter()
            .filter_map(|choice| choice.delta.as_ref()?.content.as_deref())
    }
}

#[derive(Deserialize)]
struct ChoiceView<'a> {
    #[serde(default, borrow)]
    delta: Option<DeltaView<'a>>,
}

#[derive(Deserialize)]
struct DeltaView<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// The event that tells an OpenAI SDK the stream failed: it raises on a
/// `data:` payload with an `error` key.
pub fn error_event(error: &GatewayError) -> Bytes {
    sse_event(&error.body())
}

/// Most bytes of already-arrived events sent as one body frame.
const FRAME_BYTES: usize = 16 * 1024;

impl Stream for Relay {
    type Item = Result<Bytes, Infallible>;

    /// The next event, together with every event that is already here (the
    /// guard releasing held chunks at once, an upstream frame that carries
    /// several events): one frame, so one write to the client, for all of
    /// them. Nothing waits for an event that has not arrived.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let first = match this.poll_event(cx) {
            Poll::Ready(Some(event)) => event,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let mut frame: Option<BytesMut> = None;
        while frame.as_ref().map_or(first.len(), BytesMut::len) < FRAME_BYTES {
            let Poll::Ready(Some(event)) = this.poll_event(cx) else {
                break;
            };
            frame
                .get_or_insert_with(|| BytesMut::from(&first[..]))
                .extend_from_slice(&event);
        }
        Poll::Ready(Some(Ok(frame.map_or(first, BytesMut::freeze))))
    }
}

impl Relay {
    /// One event: a chunk, `[DONE]`, or an error event that ends the stream.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self;
        if let Some(event) = this.out.pop_front() {
            return Poll::Ready(Some(event));
        }
        if this.finished {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            let error = GatewayError::UpstreamTimeout {
                message: "the stream did not finish within the upstream time limit".to_owned(),
            };
            this.finish(504, Outcome::UpstreamBroke);
            return Poll::Ready(Some(error_event(&error)));
        }
        loop {
            // The hold timer is polled on every turn, so a timer reset below
            // is registered before this returns `Pending`.
            if let Some(timer) = &mut this.hold_timer
                && timer.as_mut().poll(cx).is_ready()
            {
                this.release_held(false);
                if let Some(event) = this.out.pop_front() {
                    return Poll::Ready(Some(event));
                }
                continue;
            }
            return match this.upstream.as_mut().poll_next(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(StreamItem::Chunk(json)))) => {
                    if let Some(collected) = &mut this.collected {
                        // Past the cache's entry limit the answer will not be
                        // stored: stop holding its chunks now, not at the end.
                        this.collected_bytes += json.len();
                        if this.collected_bytes > this.collect_limit {
                            this.collected = None;
                        } else {
                            collected.push(json.clone());
                        }
                    }
                    if !this.inspect(&json) {
                        continue;
                    }
                    if this.cut_off {
                        let error = this.cut_off_error();
                        this.finish(429, Outcome::Error("quota_exceeded"));
                        return Poll::Ready(Some(error_event(&error)));
                    }
                    let Some(guard) = &mut this.guard else {
                        return Poll::Ready(Some(sse_event(&json)));
                    };
                    if let Err(error) = guard.push(json, tokio::time::Instant::now()) {
                        // Held chunks are dropped: they are what the rule matched.
                        this.finish(error.status().as_u16(), Outcome::Error(error.label()));
                        return Poll::Ready(Some(error_event(&error)));
                    }
                    this.release_held(false);
                    match this.out.pop_front() {
                        Some(event) => Poll::Ready(Some(event)),
                        None => continue,
                    }
                }
                Poll::Ready(Some(Ok(StreamItem::Done))) => {
                    this.release_held(true);
                    this.fill_cache();
                    this.out.push_back(Bytes::from_static(DONE_EVENT));
                    this.finish(200, Outcome::Ok);
                    Poll::Ready(this.out.pop_front())
                }
                Poll::Ready(Some(Err(error))) => {
                    tracing::warn!(error = %error, "upstream stream failed");
                    this.release_held(true);
                    this.out.push_back(error_event(&error));
                    this.finish(error.status().as_u16(), Outcome::UpstreamBroke);
                    Poll::Ready(this.out.pop_front())
                }
                Poll::Ready(None) => {
                    let error = GatewayError::UpstreamFailed {
                        message: "the provider ended the stream before it was complete".to_owned(),
                    };
                    tracing::warn!("upstream stream ended without [DONE]");
                    this.release_held(true);
                    this.out.push_back(error_event(&error));
                    this.finish(502, Outcome::UpstreamBroke);
                    Poll::Ready(this.out.pop_front())
                }
            };
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(499, Outcome::ClientDisconnected);
        }
    }
}
