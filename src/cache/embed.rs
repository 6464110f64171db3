//! Embeddings for the cache (and any stage that wants them): `Embedder`, a
//! cheap clonable handle over either the local model (all-MiniLM-L6-v2
//! through fastembed and ONNX Runtime, loaded once from local files, run on
//! a dedicated thread, never on the async workers, that takes whatever
//! requests are waiting and runs each text alone) or a provider's
//! `/v1/embeddings`.

use crate::seams::embedding::{EmbeddingModel, normalize};
use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use parking_lot::Mutex;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

pub const MODEL_DIMENSIONS: usize = 384;
/// Most waiting texts the embedding thread takes at one wake-up.
const MAX_BATCH: usize = 32;
/// Texts in one ONNX Runtime run: one. The int8 models quantize each
/// layer's input by its range over the whole run (`DynamicQuantizeLinear`),
/// so a text embedded beside others (another team's prompt, or padding to
/// a longer one) gets a slightly different vector: a guardrail's verdict or
/// a cache similarity near its threshold would depend on what else was
/// waiting. Alone, a text always gets the vector its thresholds were chosen
/// on; and batching bought no throughput here (`cargo bench --bench cache
/// embed`).
const TEXTS_PER_RUN: usize = 1;

/// all-MiniLM-L6-v2 loaded from a directory of local files.
pub struct LocalEmbedder {
    model: Mutex<TextEmbedding>,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalEmbedder")
    }
}

impl LocalEmbedder {
    /// Load the model from `dir` (`model.onnx`, `tokenizer.json`,
    /// `config.json`, `special_tokens_map.json`, `tokenizer_config.json`) and
    /// ONNX Runtime from `ORT_DYLIB_PATH`. Every failure is a message, never
    /// a panic, so the gateway can serve without the semantic layer.
    pub fn load(dir: &Path) -> Result<Self, String> {
        Self::load_model(dir, "model.onnx")
    }

    /// Load the model file `onnx` of `dir` (another model on the same
    /// tokenizer, such as a guardrail's encoder) with `dir`'s tokenizer files.
    pub fn load_model(dir: &Path, onnx: &str) -> Result<Self, String> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|error| format!("cannot read {}: {error}", dir.join(name).display()))
        };
        let onnx = read(onnx)?;
        let tokenizer = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let library = std::env::var_os("ORT_DYLIB_PATH")
            .filter(|path| !path.is_empty())
            .ok_or("ORT_DYLIB_PATH does not name the ONNX Runtime library")?;
        if !Path::new(&library).is_file() {
            return Err(format!(
                "ORT_DYLIB_PATH names {}, which is not a file",
                Path::new(&library).display()
            ));
        }
        // Loads the library (once per process) with an error instead of ort's panic.
        ort::init_from(&library).map_err(|error| format!("cannot load ONNX Runtime: {error}"))?;
        // all-MiniLM-L6-v2 is mean-pooled; fastembed's default for a
        // user-defined model is CLS, which still "works" and ruins similarity.
        let model = UserDefinedEmbeddingModel::new(onnx, tokenizer).with_pooling(Pooling::Mean);
        let options = InitOptionsUserDefined::default().with_intra_threads(1);
        let model = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|error| format!("cannot load the embedding model: {error}"))?;
        Ok(Self {
            model: Mutex::new(model),
        })
    }
}

impl EmbeddingModel for LocalEmbedder {
    fn dimensions(&self) -> usize {
        MODEL_DIMENSIONS
    }

    /// Unit vectors, one per text; on a model error, empty vectors (a miss).
    fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        match self.model.lock().embed(texts, Some(TEXTS_PER_RUN)) {
            Ok(mut vectors) => {
                vectors.iter_mut().for_each(|v| normalize(v));
                vectors
            }
            Err(error) => {
                tracing::warn!(%error, "embedding failed");
                vec![Vec::new(); texts.len()]
            }
        }
    }
}

type Job = (String, oneshot::Sender<Vec<f32>>);

/// A model on its own thread. Requests that arrive while it is busy are
/// taken together at its next wake-up (each text still runs alone).
#[derive(Clone)]
pub struct EmbedService {
    jobs: mpsc::Sender<Job>,
    dimensions: usize,
}

impl EmbedService {
    pub fn start(model: Arc<dyn EmbeddingModel>) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let dimensions = model.dimensions();
        let spawned = std::thread::Builder::new()
            .name("switchboard-embed".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let texts: Vec<&str> = batch.iter().map(|(text, _)| text.as_str()).collect();
                    let vectors = model.embed(&texts);
                    for ((_, reply), vector) in batch.into_iter().zip(vectors) {
                        // The asker may have gone away; nothing to do then.
                        let _ = reply.send(vector);
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the embedding thread");
        }
        Self { jobs, dimensions }
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The unit vector of `text`, or `None` if the model failed.
    pub async fn embed(&self, text: &str) -> Option<Vec<f32>> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send((text.to_owned(), reply)).ok()?;
        let vector = answer.await.ok()?;
        (vector.len() == self.dimensions).then_some(vector)
    }
}

/// Where a text's vector comes from; clone it freely (it is a handle).
#[derive(Clone)]
pub enum Embedder {
    Local(EmbedService),
    Provider(super::provider_embed::ProviderEmbedder),
}

impl Embedder {
    pub fn dimensions(&self) -> usize {
        match self {
            Self::Local(service) => service.dimensions(),
            Self::Provider(provider) => provider.dimensions(),
        }
    }

    /// The unit vector of `text`, or `None` if the model or provider failed
    /// (a miss, never an error for the request).
    pub async fn embed(&self, text: &str) -> Option<Vec<f32>> {
        match self {
            Self::Local(service) => service.embed(text).await,
            Self::Provider(provider) => provider.embed(text).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seams::embedding::HashingEmbedder;

    #[tokio::test]
    async fn the_service_answers_each_asker() {
        let service = EmbedService::start(Arc::new(HashingEmbedder::new(16)));
        let direct = HashingEmbedder::new(16);
        let texts = ["one", "two", "three", "four"];
        let answers = futures::future::join_all(texts.iter().map(|text| service.embed(text))).await;
        for (text, answer) in texts.iter().zip(answers) {
            assert_eq!(answer, Some(direct.embed_one(text)));
        }
    }

    #[test]
    fn a_missing_model_is_an_error_not_a_panic() {
        let error = LocalEmbedder::load(Path::new("/nonexistent/model")).unwrap_err();
        assert!(error.contains("model.onnx"), "{error}");
    }
}
