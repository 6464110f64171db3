//! The admin API under `/admin`, behind its own credential (`[admin]`).

pub mod auth;
pub mod quota;
