//! The admin API's view of teams and keys, held by the gateway: the
//! directory (config plus saved changes) under the lock every change takes,
//! the version of the shared document last applied, and its seal.

use super::Directory;

pub struct AdminState {
    pub(crate) directory: tokio::sync::Mutex<Directory>,
    /// The last version of the shared (Redis) document applied (or refused) here.
    pub(crate) seen_version: std::sync::atomic::AtomicU64,
    /// Seals the shared document; `None` without an admin credential, and
    /// then no shared document is applied.
    pub(crate) seal: Option<super::sealed::Seal>,
    /// Shared documents refused because their seal did not check out.
    pub refused_documents: prometheus_client::metrics::counter::Counter,
    /// Whether the admin area's followers (shared changes, pin saving) run.
    followers_started: std::sync::atomic::AtomicBool,
    /// The directory's ended dashboard sessions, readable without its lock
    /// (every admin request checks them).
    ended_sessions: parking_lot::RwLock<std::collections::BTreeMap<String, u64>>,
}

impl AdminState {
    pub fn new(directory: Directory, seal: Option<super::sealed::Seal>) -> Self {
        Self {
            ended_sessions: parking_lot::RwLock::new(directory.ended_sessions().clone()),
            directory: tokio::sync::Mutex::new(directory),
            seen_version: std::sync::atomic::AtomicU64::new(0),
            seal,
            refused_documents: Default::default(),
            followers_started: Default::default(),
        }
    }

    /// Whether a dashboard session was ended before its expiry.
    pub fn session_ended(&self, id: &str) -> bool {
        self.ended_sessions.read().contains_key(id)
    }

    /// Take the ended sessions of the directory now in force.
    pub fn adopt_ended_sessions(&self, directory: &Directory) {
        self.ended_sessions
            .write()
            .clone_from(directory.ended_sessions());
    }

    /// True the first time only: the followers start once per gateway.
    pub fn start_followers_once(&self) -> bool {
        !self
            .followers_started
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }
}
