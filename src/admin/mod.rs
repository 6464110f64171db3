//! Operator endpoints under `/admin`, guarded by the admin credential.

pub mod auth;
