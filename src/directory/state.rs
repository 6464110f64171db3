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
}

impl AdminState {
    pub fn new(directory: Directory, seal: Option<super::sealed::Seal>) -> Self {
        Self {
            directory: tokio::sync::Mutex::new(directory),
            seen_version: std::sync::atomic::AtomicU64::new(0),
            seal,
            refused_documents: Default::default(),
            followers_started: Default::default(),
        }
    }

    /// True the first time only: the followers start once per gateway.
    pub fn start_followers_once(&self) -> bool {
        !self
            .followers_started
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }
}
