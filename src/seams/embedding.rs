//! `EmbeddingModel`: text → vector.

/// Turns texts into unit vectors of one dimension.
pub trait EmbeddingModel: Send + Sync {
    fn dimensions(&self) -> usize;
    fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>>;
}

/// Feature hashing of lower-cased word unigrams and bigrams into a fixed
/// number of buckets. Deterministic and dependency-free: it serves the mock
/// provider and tests. It knows nothing of meaning, so it is no substitute
/// for a real model in a semantic cache.
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    dimensions: usize,
}

impl HashingEmbedder {
    pub fn new(dimensions: usize) -> Self {
        Self {
            dimensions: dimensions.max(1),
        }
    }

    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0f32; self.dimensions];
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut add = |feature: &str| {
            let hash = fnv1a(feature.as_bytes());
            let bucket = (hash % self.dimensions as u64) as usize;
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[bucket] += sign;
        };
        for word in &words {
            add(word);
        }
        for pair in words.windows(2) {
            add(&format!("{} {}", pair[0], pair[1]));
        }
        normalize(&mut vector);
        vector
    }
}

impl EmbeddingModel for HashingEmbedder {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        texts.iter().map(|text| self.embed_one(text)).collect()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Scale to unit length; the zero vector stays zero.
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_unit_vectors() {
        let embedder = HashingEmbedder::new(32);
        let a = embedder.embed_one("Hello world");
        assert_eq!(a, embedder.embed_one("hello, WORLD"));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(
            embedder.embed_one("").iter().filter(|x| **x != 0.0).count(),
            0
        );
        assert_ne!(a, embedder.embed_one("something else entirely"));
    }
}
