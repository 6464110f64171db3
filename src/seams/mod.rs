//! The pipeline's seams: traits that later stages plug stores and engines
//! into, each with an in-memory implementation that the embedded default and
//! the tests use. The `Provider` seam lives in `crate::provider`.

pub mod cache;
pub mod embedding;
pub mod quota;
pub mod vector;
