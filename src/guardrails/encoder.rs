//! The models semantic rules read. One shared embedding model (the semantic
//! cache's, or one loaded for guardrails alone) embeds sentences for
//! example phrases and sentence scorers. An encoder is a model fitted for
//! one guardrail task (the injection encoder: all-MiniLM-L6-v2 with fitted
//! weight changes, built by `scripts/fetch-model` from
//! `guardrails/scorers/injection-encoder.npz`), a file next to the shared
//! model on the same tokenizer, named by a scorer's `encoder`. A rule with
//! an encoder reads whole passages (`semantic::passages`), as its encoder was
//! trained to.

use crate::cache::embed::{EmbedService, LocalEmbedder};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The shared model and the encoders, cheap to clone (handles).
#[derive(Clone)]
pub struct SemanticModels {
    shared: EmbedService,
    dir: Option<PathBuf>,
    /// Encoders by file name, loaded on first use and kept across reloads;
    /// `None` when it did not load (warned once, not tried again).
    encoders: Arc<Mutex<HashMap<String, Option<EmbedService>>>>,
}

impl SemanticModels {
    /// `shared`, with encoders looked up in `dir` (none without one).
    pub fn new(shared: EmbedService, dir: Option<&Path>) -> Self {
        Self {
            shared,
            dir: dir.map(Path::to_path_buf),
            encoders: Arc::default(),
        }
    }

    /// Load the shared model from `dir`, encoders from the same place.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let model = LocalEmbedder::load(dir)?;
        Ok(Self::new(EmbedService::start(Arc::new(model)), Some(dir)))
    }

    pub fn shared(&self) -> &EmbedService {
        &self.shared
    }

    /// The encoder in file `name` of the model directory, loaded on first
    /// ask and running on its own thread; `None` (with one warning) when
    /// there is no directory or the file does not load.
    pub fn encoder(&self, name: &str) -> Option<EmbedService> {
        let mut encoders = self.encoders.lock();
        if let Some(known) = encoders.get(name) {
            return known.clone();
        }
        let loaded = match &self.dir {
            None => Err(
                "no model directory (cache.model_dir or SWITCHBOARD_EMBEDDING_MODEL_DIR)".into(),
            ),
            Some(_) if name.contains(['/', '\\']) || name.starts_with('.') => {
                Err("an encoder is a file name in the model directory".into())
            }
            Some(dir) => LocalEmbedder::load_model(dir, name),
        };
        let service = match loaded {
            Ok(model) => {
                tracing::info!(encoder = name, "guardrail encoder loaded");
                Some(EmbedService::start(Arc::new(model)))
            }
            Err(error) => {
                tracing::warn!(
                    encoder = name,
                    %error,
                    "guardrail rules on this encoder off (scripts/fetch-model builds it); \
                     the other rules still run"
                );
                None
            }
        };
        encoders.insert(name.to_owned(), service.clone());
        service
    }
}

impl From<EmbedService> for SemanticModels {
    /// A shared model alone: rules on encoders are off.
    fn from(shared: EmbedService) -> Self {
        Self::new(shared, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seams::embedding::HashingEmbedder;

    #[test]
    fn encoders_load_once_and_only_from_the_model_directory() {
        let models = SemanticModels::from(EmbedService::start(Arc::new(HashingEmbedder::new(8))));
        assert!(
            models.encoder("injection-encoder.onnx").is_none(),
            "no directory"
        );
        let models = SemanticModels::new(
            EmbedService::start(Arc::new(HashingEmbedder::new(8))),
            Some(Path::new("/nonexistent/model")),
        );
        assert!(models.encoder("../model.onnx").is_none());
        assert!(models.encoder("missing.onnx").is_none());
        assert_eq!(models.encoders.lock().len(), 2, "failures are remembered");
    }
}
