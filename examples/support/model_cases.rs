//! What the reports that run the injection pack's model rules read: the
//! cases (`--file <path>` or the development half, never the test half) and
//! the model files `scripts/fetch-model` placed.

use crate::cases_file;
use std::path::Path;
use switchboard::guardrails::encoder::SemanticModels;
use switchboard::guardrails::evaluation::{self, Case};

pub fn load(args: &[String]) -> (Vec<Case>, SemanticModels) {
    let file = cases_file::from_args(args);
    let cases = evaluation::parse(&std::fs::read_to_string(&file).expect("cases")).expect("parse");
    let dir = std::env::var("SWITCHBOARD_EMBEDDING_MODEL_DIR")
        .expect("SWITCHBOARD_EMBEDDING_MODEL_DIR (scripts/fetch-model)");
    let models = SemanticModels::load(Path::new(&dir)).expect("the model loads");
    (cases, models)
}
