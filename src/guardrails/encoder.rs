//! The models semantic rules read. One shared embedding model (the semantic
//! cache's, or one loaded for guardrails alone, only once a bound rule needs
//! it) embeds sentences for example phrases and sentence scorers. An
//! encoder is a model fitted for one guardrail task (the injection encoder:
//! all-MiniLM-L6-v2 with fitted weight changes, built by
//! `scripts/fetch-model` from `guardrails/scorers/injection-encoder.npz`), a
//! file next to the shared model on the same tokenizer, named by a scorer's
//! `encoder`. A rule with an encoder reads whole passages
//! (`semantic::passages`), as its encoder was trained to.

use crate::cache::embed::{EmbedService, LocalEmbedder};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The shared model and the encoders, cheap to clone (handles).
#[derive(Clone)]
pub struct SemanticModels {
    /// The shared model: given (the cache's), or loaded from `dir` on first
    /// ask; the inner `None` when it did not load (warned once).
    shared: Arc<Mutex<Option<Option<EmbedService>>>>,
    dir: Option<PathBuf>,
    /// Encoders by file name, loaded on first use and kept across reloads;
    /// `None` when it did not load (warned once, not tried again).
    encoders: Arc<Mutex<HashMap<String, Option<EmbedService>>>>,
}

impl SemanticModels {
    /// `shared` (or, without one, the model in `dir` once a rule asks for
    /// it), with encoders looked up in `dir` (none without one). Rules that
    /// read only encoders never load the shared model: it costs memory and
    /// a thread.
    pub fn new(shared: Option<EmbedService>, dir: Option<&Path>) -> Self {
        Self {
            shared: Arc::new(Mutex::new(shared.map(Some))),
            dir: dir.map(Path::to_path_buf),
            encoders: Arc::default(),
        }
    }

    /// The models in `dir`, the shared one loaded now (an error if it does
    /// not load), encoders on first ask.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let model = LocalEmbedder::load(dir)?;
        Ok(Self::new(
            Some(EmbedService::start(Arc::new(model))),
            Some(dir),
        ))
    }

    /// The shared model, loaded from the model directory on first ask;
    /// `None` (with one warning) when there is none or it does not load.
    pub fn shared(&self) -> Option<EmbedService> {
        let mut shared = self.shared.lock();
        if let Some(known) = shared.as_ref() {
            return known.clone();
        }
        let loaded = self.in_dir(LocalEmbedder::load);
        let service = started(loaded, "the embedding model (examples, sentence scorers)");
        *shared = Some(service.clone());
        service
    }

    /// The encoder in file `name` of the model directory, loaded on first
    /// ask and running on its own thread; `None` (with one warning) when
    /// there is no directory or the file does not load.
    pub fn encoder(&self, name: &str) -> Option<EmbedService> {
        let mut encoders = self.encoders.lock();
        if let Some(known) = encoders.get(name) {
            return known.clone();
        }
        let loaded = self.in_dir(|dir| {
            if name.contains(['/', '\\']) || name.starts_with('.') {
                return Err("an encoder is a file name in the model directory".into());
            }
            LocalEmbedder::load_model(dir, name)
        });
        let service = started(loaded, name);
        encoders.insert(name.to_owned(), service.clone());
        service
    }

    /// `load` run on the model directory, or the error of having none.
    fn in_dir(
        &self,
        load: impl FnOnce(&Path) -> Result<LocalEmbedder, String>,
    ) -> Result<LocalEmbedder, String> {
        match &self.dir {
            Some(dir) => load(dir),
            None => Err(
                "no model directory (cache.model_dir or SWITCHBOARD_EMBEDDING_MODEL_DIR)".into(),
            ),
        }
    }
}

/// The `model` loaded, started on its own thread; or `None` with one
/// warning that the rules on it are off.
fn started(loaded: Result<LocalEmbedder, String>, model: &str) -> Option<EmbedService> {
    match loaded {
        Ok(loaded) => {
            tracing::info!(model, "guardrail model loaded");
            Some(EmbedService::start(Arc::new(loaded)))
        }
        Err(error) => {
            tracing::warn!(
                model,
                %error,
                "guardrail rules on this model off (scripts/fetch-model fetches and builds \
                 the models); the other rules still run"
            );
            None
        }
    }
}

impl From<EmbedService> for SemanticModels {
    /// A shared model alone: rules on encoders are off.
    fn from(shared: EmbedService) -> Self {
        Self::new(Some(shared), None)
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
            Some(EmbedService::start(Arc::new(HashingEmbedder::new(8)))),
            Some(Path::new("/nonexistent/model")),
        );
        assert!(models.encoder("../model.onnx").is_none());
        assert!(models.encoder("missing.onnx").is_none());
        assert_eq!(models.encoders.lock().len(), 2, "failures are remembered");
    }

    #[test]
    fn the_shared_model_loads_on_first_ask_and_a_failure_is_remembered() {
        let models = SemanticModels::new(None, Some(Path::new("/nonexistent/model")));
        assert!(models.shared.lock().is_none(), "nothing loaded up front");
        assert!(models.shared().is_none());
        assert!(
            matches!(*models.shared.lock(), Some(None)),
            "the failure is remembered"
        );
        let given = SemanticModels::from(EmbedService::start(Arc::new(HashingEmbedder::new(8))));
        assert!(given.shared().is_some());
    }

    #[test]
    fn the_injection_pack_never_loads_the_shared_model() {
        use crate::guardrails::{Engine, Overrides, load_packs};
        let models = SemanticModels::new(None, Some(Path::new("/nonexistent/model")));
        let packs = load_packs(None).expect("built-in packs");
        let chosen = [&packs["injection"]];
        Engine::build(&chosen, &Overrides::default(), Some(models.clone()), None)
            .expect("the pack compiles");
        assert!(
            models.shared.lock().is_none(),
            "its only model rule reads its own encoder"
        );
        assert!(
            models
                .encoders
                .lock()
                .contains_key("injection-encoder.onnx")
        );
    }
}
