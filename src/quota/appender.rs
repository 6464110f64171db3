//! The ledger's appender thread: makes settled requests durable in the
//! pending files, answers them, and hands finished files (and every read or
//! admin write, in order) to the SQLite thread in `ledger.rs`.

use super::ledger::{DurableCounter, FOLD_AFTER, FOLD_ROWS, Job, LedgerEntry, Reply, Request};
use super::pending::{PendingFiles, PendingRecord};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

/// Work for the SQLite thread, in the order it was handed over.
pub(super) enum Fold {
    /// A finished pending file: fold its records, then delete it.
    File(PathBuf, Vec<PendingRecord>),
    /// A batch of a ledger in memory, answered once committed.
    Direct(Vec<(LedgerEntry, Vec<DurableCounter>, Reply<()>)>),
    Request(Request),
}

/// The appender thread: makes settled requests durable and answers them.
pub(super) struct Appender {
    /// `None` for a ledger in memory: batches go to SQLite directly.
    pending: Option<PendingFiles>,
    /// Records in the current pending file.
    unfolded: Vec<PendingRecord>,
    /// When the current pending file got its first record.
    oldest: Option<Instant>,
    folds: mpsc::Sender<Fold>,
}

impl Appender {
    pub(super) fn new(pending: Option<PendingFiles>, folds: mpsc::Sender<Fold>) -> Self {
        Self {
            pending,
            unfolded: Vec::new(),
            oldest: None,
            folds,
        }
    }

    pub(super) fn run(mut self, jobs: &mpsc::Receiver<Job>) {
        loop {
            let first = match self.oldest {
                // Wake up in time to hand over, even when no request comes.
                Some(oldest) => {
                    match jobs.recv_timeout(FOLD_AFTER.saturating_sub(oldest.elapsed())) {
                        Ok(job) => Some(job),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match jobs.recv() {
                    Ok(job) => Some(job),
                    Err(_) => break,
                },
            };
            let mut records = Vec::new();
            let mut next = first;
            while let Some(job) = next {
                match job {
                    Job::Record(entry, counters, reply) => records.push((entry, counters, reply)),
                    Job::Other(request) => {
                        // Queued behind the fold of everything settled before it.
                        self.keep(std::mem::take(&mut records));
                        self.hand_over();
                        let _ = self.folds.send(Fold::Request(request));
                    }
                    Job::Close(reply) => {
                        self.keep(std::mem::take(&mut records));
                        self.close();
                        let _ = self.folds.send(Fold::Request(Request::Folded(reply)));
                    }
                }
                next = jobs.try_recv().ok();
            }
            self.keep(records);
            let due = self
                .oldest
                .is_some_and(|oldest| oldest.elapsed() >= FOLD_AFTER);
            if due || self.unfolded.len() >= FOLD_ROWS {
                self.hand_over();
            }
        }
        // Every handle is gone (shutdown).
        self.close();
    }

    /// Hand over the current file without starting another; later batches
    /// are committed directly.
    fn close(&mut self) {
        if let Some(pending) = self.pending.take() {
            let records = std::mem::take(&mut self.unfolded);
            let _ = self.folds.send(Fold::File(pending.into_path(), records));
            self.oldest = None;
        }
    }

    /// Make a batch durable and answer its requests.
    fn keep(&mut self, records: Vec<(LedgerEntry, Vec<DurableCounter>, Reply<()>)>) {
        if records.is_empty() {
            return;
        }
        let Some(pending) = &mut self.pending else {
            let _ = self.folds.send(Fold::Direct(records));
            return;
        };
        let rows = records
            .iter()
            .map(|(entry, counters, _)| (entry, &counters[..]));
        let result = pending.append(rows).map_err(|error| error.to_string());
        if let Err(error) = &result {
            tracing::error!(%error, "cannot append to the pending ledger file");
        }
        for (entry, counters, reply) in records {
            let _ = reply.send(result.clone());
            if result.is_ok() {
                self.unfolded.push(PendingRecord { entry, counters });
            }
        }
        if result.is_ok() && self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
    }

    /// Start a new pending file and give the finished one to the SQLite thread.
    fn hand_over(&mut self) {
        let Some(pending) = &mut self.pending else {
            return;
        };
        if self.unfolded.is_empty() {
            return;
        }
        match pending.rotate() {
            Ok(finished) => {
                let records = std::mem::take(&mut self.unfolded);
                let _ = self.folds.send(Fold::File(finished, records));
                self.oldest = None;
            }
            // Appends go on in the same file; the next hand-over tries again.
            Err(error) => tracing::error!(%error, "cannot start a new pending ledger file"),
        }
    }
}
