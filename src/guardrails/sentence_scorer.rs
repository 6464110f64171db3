//! A learned scorer over sentence embeddings: a logistic model on one
//! sentence's vector (from the semantic rules' embedding model) plus a bias
//! per phase. A text matches when its most suspicious sentence does, so an
//! instruction planted in a long page is judged on its own.
//!
//! The weights are data, `guardrails/scorers/<name>.json` with
//! `"kind": "sentences"`, fitted on the development half of the guardrail
//! evaluation (and training-only texts) by
//! `examples/train_injection_head.rs`. It reads the vectors the semantic
//! rules already compute, so it costs 384 multiply-adds per sentence.

use super::Phase;

/// A fitted sentence scorer as stored in its JSON file.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct SentenceScorer {
    /// Always `"sentences"`: tells this file from a word scorer's.
    pub kind: String,
    /// One weight per dimension of the embedding model's vectors.
    pub weights: Vec<f32>,
    /// Added for text read in each phase: input, output, tool arguments,
    /// tool result.
    pub phase_bias: [f32; 4],
    pub bias: f32,
    /// The probability at which a sentence matches, chosen on development
    /// data.
    pub threshold: f32,
    /// The encoder whose vectors the weights read (a file next to the shared
    /// model, see `encoder.rs`), over passages; without one, the shared
    /// model's vectors of single sentences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
}

impl SentenceScorer {
    /// Parse and check a scorer file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let scorer: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if scorer.kind != "sentences" {
            return Err("`kind` must be \"sentences\"".into());
        }
        if scorer.weights.is_empty() {
            return Err("`weights` is empty".into());
        }
        if !(0.0..1.0).contains(&scorer.threshold) {
            return Err("`threshold` must be a probability".into());
        }
        Ok(scorer)
    }

    /// Probability that the sentence embedded as `vector`, read in `phase`,
    /// tries to steer the model; 0 for a vector of another model's size.
    pub fn probability(&self, vector: &[f32], phase: Phase) -> f32 {
        if vector.len() != self.weights.len() {
            return 0.0;
        }
        let z = self.bias
            + self.phase_bias[phase_index(phase)]
            + self
                .weights
                .iter()
                .zip(vector)
                .map(|(w, x)| w * x)
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// The position of `phase` in `phase_bias`.
pub fn phase_index(phase: Phase) -> usize {
    match phase {
        Phase::Input => 0,
        Phase::Output => 1,
        Phase::ToolArguments => 2,
        Phase::ToolResult => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scorer() -> SentenceScorer {
        SentenceScorer {
            kind: "sentences".into(),
            weights: vec![4.0, -4.0],
            phase_bias: [0.0, 0.0, 0.0, 1.0],
            bias: -1.0,
            threshold: 0.9,
            encoder: None,
        }
    }

    #[test]
    fn probability_reads_the_vector_and_the_phase() {
        let s = scorer();
        let toward = s.probability(&[1.0, 0.0], Phase::ToolResult);
        let away = s.probability(&[0.0, 1.0], Phase::ToolResult);
        assert!(toward > 0.98 && away < 0.02, "{toward} {away}");
        assert!(s.probability(&[1.0, 0.0], Phase::Input) < toward);
        assert_eq!(s.probability(&[1.0, 0.0, 0.0], Phase::Input), 0.0);
    }

    #[test]
    fn files_of_another_kind_are_refused() {
        let mut text = serde_json::to_value(scorer()).unwrap();
        text["kind"] = "words".into();
        assert!(SentenceScorer::parse(&text.to_string()).is_err());
        let good = serde_json::to_string(&scorer()).unwrap();
        assert!(SentenceScorer::parse(&good).is_ok());
    }
}
