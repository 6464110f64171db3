//! A server's requests to a 2026-07-28 client during a tool call.
//!
//! That revision has no stream on which a server asks its client anything
//! mid-call. Instead the call answers `input_required`, with the questions
//! (`inputRequests`) and an opaque `requestState`, and the client calls
//! again with its answers (`inputResponses`) and that state (SEP-2322).
//! Servers of the session era still ask mid-call, on their session, and
//! wait. So the gateway bridges the two: the upstream call runs on in a
//! task; when the server asks, the client's call ends `input_required` and
//! the running call is parked under a random state token; the client's
//! retry with that token hands the answers to the waiting server and waits
//! on, for the result or the next question.
//!
//! Parked calls are bounded in number (`MAX_PARKED`) and in time (the
//! server's call timeout): one that is not resumed in time is dropped, which
//! cancels its upstream call. A token is good only for the team that got it
//! and the tool it was issued for, once, on the replica that issued it (a
//! running upstream call cannot move between processes).

use parking_lot::Mutex;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, InputRequest, InputRequests, InputResponses};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most calls parked at once, all teams together.
pub const MAX_PARKED: usize = 1024;

/// A request from the server, waiting for the client's answer.
struct Question {
    request: InputRequest,
    answer: oneshot::Sender<Value>,
}

/// How a call's owner passes the server's requests to a 2026-07-28 client.
#[derive(Clone)]
pub struct Asker(mpsc::Sender<Question>);

/// The other end of an `Asker`, read by the bridged call.
pub struct Questions(mpsc::Receiver<Question>);

/// A connected `Asker` and `Questions`.
pub fn channel() -> (Asker, Questions) {
    let (send, receive) = mpsc::channel(8);
    (Asker(send), Questions(receive))
}

impl Asker {
    /// The client's answer to `request` (its result, as JSON); an error
    /// when the client's call was given up before it answered.
    pub async fn ask(&self, request: InputRequest) -> Result<Value, ErrorData> {
        let gone = || {
            ErrorData::internal_error(
                "the client's call ended before it answered".to_owned(),
                None,
            )
        };
        let (answer, answered) = oneshot::channel();
        self.0
            .send(Question { request, answer })
            .await
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())
    }
}

/// What a bridged call did next.
pub enum Step {
    Done(Result<CallToolResult, ErrorData>),
    /// The server asks: the client must answer these (keyed as sent).
    Ask(InputRequests),
}

/// An upstream call running for a 2026-07-28 client, between its rounds.
pub struct BridgedCall {
    team: Arc<str>,
    tool: String,
    result: oneshot::Receiver<Result<CallToolResult, ErrorData>>,
    questions: Questions,
    /// Questions sent to the client and not yet answered, by their key.
    asked: BTreeMap<String, Question>,
    next_key: u64,
    /// Dropped with the call: the upstream call is cancelled.
    _stop: oneshot::Sender<()>,
}

impl BridgedCall {
    /// Runs `call` in a task; it is cancelled when `stopped` resolves, which
    /// it does when the returned value is dropped.
    pub fn start<F>(
        team: Arc<str>,
        tool: String,
        questions: Questions,
        call: impl FnOnce(oneshot::Receiver<()>) -> F,
    ) -> Self
    where
        F: std::future::Future<Output = Result<CallToolResult, ErrorData>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let (done, result) = oneshot::channel();
        let running = call(stopped);
        tokio::spawn(async move {
            let _ = done.send(running.await);
        });
        Self {
            team,
            tool,
            result,
            questions,
            asked: BTreeMap::new(),
            next_key: 0,
            _stop: stop,
        }
    }

    /// Hands the client's answers to the server's waiting requests; a key
    /// that names no question is ignored, a question left unanswered is
    /// asked again.
    pub fn answer(&mut self, responses: InputResponses) {
        for (key, value) in responses {
            if let Some(question) = self.asked.remove(&key) {
                // The server may have given up waiting; nothing to do then.
                let _ = question.answer.send(value);
            }
        }
    }

    /// Waits for the call's end or the server's next request (with any it
    /// sends at the same moment), or until `cancelled` resolves.
    pub async fn next(&mut self, cancelled: impl std::future::Future<Output = ()>) -> Step {
        if !self.asked.is_empty() {
            return Step::Ask(self.questions_out());
        }
        let done = |result: Result<_, oneshot::error::RecvError>| {
            Step::Done(result.unwrap_or_else(|_| {
                Err(ErrorData::internal_error(
                    "the tool call ended without an answer".to_owned(),
                    None,
                ))
            }))
        };
        tokio::select! {
            result = &mut self.result => done(result),
            question = self.questions.0.recv() => {
                let Some(question) = question else {
                    // The owner is gone, so the call has ended: its result.
                    return done((&mut self.result).await);
                };
                self.note(question);
                while let Ok(question) = self.questions.0.try_recv() {
                    self.note(question);
                }
                Step::Ask(self.questions_out())
            }
            () = cancelled => Step::Done(Err(ErrorData::internal_error(
                "the call was cancelled".to_owned(),
                None,
            ))),
        }
    }

    fn note(&mut self, question: Question) {
        self.next_key += 1;
        self.asked
            .insert(format!("input-{}", self.next_key), question);
    }

    fn questions_out(&self) -> InputRequests {
        self.asked
            .iter()
            .map(|(key, question)| (key.clone(), question.request.clone()))
            .collect()
    }
}

/// The calls waiting for their clients' answers, by state token.
#[derive(Default)]
pub struct ParkedCalls {
    calls: Arc<Mutex<HashMap<String, BridgedCall>>>,
}

impl ParkedCalls {
    /// Parks `call` for up to `limit`; its token, or an error when too many
    /// calls wait already (the call is dropped, so cancelled).
    pub fn park(&self, call: BridgedCall, limit: Duration) -> Result<String, ErrorData> {
        // 122 random bits from the OS: a token cannot be guessed.
        let token = uuid::Uuid::new_v4().simple().to_string();
        {
            let mut calls = self.calls.lock();
            if calls.len() >= MAX_PARKED {
                return Err(ErrorData::internal_error(
                    "too many tool calls are waiting for their clients' input; try again later"
                        .to_owned(),
                    None,
                ));
            }
            calls.insert(token.clone(), call);
        }
        let calls = Arc::downgrade(&self.calls);
        let expired = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            if let Some(calls) = calls.upgrade() {
                // Dropped outside the lock: that cancels the upstream call.
                let call = calls.lock().remove(&expired);
                drop(call);
            }
        });
        Ok(token)
    }

    /// The call parked under `token`, for the team it was parked for and
    /// the same tool; taken out, so a token is used once.
    pub fn resume(&self, token: &str, team: &str, tool: &str) -> Result<BridgedCall, ErrorData> {
        let mut calls = self.calls.lock();
        match calls.get(token) {
            Some(call) if &*call.team == team && call.tool == tool => {
                Ok(calls.remove(token).expect("present above"))
            }
            _ => Err(ErrorData::invalid_params(
                "requestState names no tool call waiting for this client's input: it expired, \
                 was used already, or was issued by another gateway replica"
                    .to_owned(),
                None,
            )),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.calls.lock().len()
    }
}

#[cfg(test)]
#[allow(deprecated)] // roots: deprecated by the 2026-07-28 revision, still sent by servers
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;

    fn roots() -> InputRequest {
        InputRequest::ListRoots(Default::default())
    }

    /// A call that asks the client once and answers with what it was told.
    fn asking_call(questions: Questions, asker: Asker) -> BridgedCall {
        BridgedCall::start(
            "alpha".into(),
            "t".into(),
            questions,
            move |_stopped| async move {
                let answer = asker.ask(roots()).await?;
                Ok(CallToolResult::success(vec![ContentBlock::text(
                    answer.to_string(),
                )]))
            },
        )
    }

    #[tokio::test]
    async fn a_question_parks_the_call_and_the_answer_finishes_it() {
        let parked = ParkedCalls::default();
        let (asker, questions) = channel();
        let mut call = asking_call(questions, asker);
        let Step::Ask(asked) = call.next(std::future::pending()).await else {
            panic!("the call should ask");
        };
        let key = asked.keys().next().unwrap().clone();
        let token = parked.park(call, Duration::from_secs(60)).unwrap();
        // Another team, another tool, a made-up token: refused, still parked.
        assert!(parked.resume(&token, "beta", "t").is_err());
        assert!(parked.resume(&token, "alpha", "other").is_err());
        assert!(parked.resume("0000", "alpha", "t").is_err());
        let mut call = parked.resume(&token, "alpha", "t").unwrap();
        assert!(parked.resume(&token, "alpha", "t").is_err(), "used once");
        call.answer(BTreeMap::from([(key, serde_json::json!({"roots": []}))]));
        let Step::Done(Ok(result)) = call.next(std::future::pending()).await else {
            panic!("the call should end");
        };
        let text = serde_json::to_string(&result).unwrap();
        assert!(text.contains("roots"), "{text}");
    }

    #[tokio::test]
    async fn an_expired_call_is_dropped_and_its_upstream_call_cancelled() {
        let parked = ParkedCalls::default();
        let (asker, questions) = channel();
        let (cancelled_tx, cancelled_rx) = oneshot::channel::<()>();
        let mut call = BridgedCall::start(
            "alpha".into(),
            "t".into(),
            questions,
            move |stopped| async move {
                let asked = asker.ask(roots());
                // Dropping the call closes both at once: the stop is what counts.
                tokio::select! {
                    biased;
                    _ = stopped => { let _ = cancelled_tx.send(()); }
                    _ = asked => {}
                }
                Err(ErrorData::internal_error("stopped".to_owned(), None))
            },
        );
        assert!(matches!(
            call.next(std::future::pending()).await,
            Step::Ask(_)
        ));
        let token = parked.park(call, Duration::from_millis(20)).unwrap();
        tokio::time::timeout(Duration::from_secs(10), cancelled_rx)
            .await
            .expect("cancelled in time")
            .expect("the call saw its stop");
        assert_eq!(parked.len(), 0);
        assert!(parked.resume(&token, "alpha", "t").is_err());
    }

    #[tokio::test]
    async fn parked_calls_are_bounded() {
        let parked = ParkedCalls::default();
        for _ in 0..MAX_PARKED {
            let (asker, questions) = channel();
            let call = asking_call(questions, asker);
            parked.park(call, Duration::from_secs(60)).unwrap();
        }
        let (asker, questions) = channel();
        assert!(
            parked
                .park(asking_call(questions, asker), Duration::from_secs(60))
                .is_err()
        );
        assert_eq!(parked.len(), MAX_PARKED);
    }
}
