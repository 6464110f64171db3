//! The learned scorer: the features of a pair (the cosine, how the unmatched
//! words align by the model's word vectors, names and order) and the logistic
//! model whose weights ship as data.

use super::*;

/// The scorer's inputs, in the order of the weights file.
pub const FEATURES: &[&str] = &[
    "cosine",
    "substitutions",
    "inner_additions",
    "outer_additions",
    "worst_substitution",
    "mean_substitution",
    "affix_contrasts",
    "unmatched_share",
    "unmatched_names",
    "order_changes",
    "interrogative_changed",
    "quantifier_changed",
    "content_words",
    "all_shared",
    "all_shared_order_changes",
    "moved_block",
];

/// Word vectors the alignment may ask for: unit vectors by normalized word.
pub type WordVectors = HashMap<String, Vec<f32>>;

/// The words whose vectors `features` needs.
pub fn words_to_embed(a: &Analysis, b: &Analysis) -> Vec<String> {
    let (left_a, left_b) = unmatched(a, b);
    if left_a.is_empty() || left_b.is_empty() {
        return Vec::new();
    }
    let mut words: Vec<String> = left_a
        .iter()
        .chain(&left_b)
        .map(|w| w.norm.clone())
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The dot product of two vectors: their cosine when both are unit vectors,
/// as the embedders return them.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Pair the unmatched words of both sides greedily, most similar first:
/// each pair is a word replaced by another; what is left over on the
/// longer side was added. Returns the pairs' similarities.
pub(super) fn substitutions(
    left_a: &[&Word],
    left_b: &[&Word],
    vectors: &WordVectors,
) -> Vec<(f32, String, String)> {
    let mut scored: Vec<(f32, usize, usize)> = Vec::new();
    for (i, x) in left_a.iter().enumerate() {
        for (j, y) in left_b.iter().enumerate() {
            let similarity = match (vectors.get(&x.norm), vectors.get(&y.norm)) {
                (Some(u), Some(v)) => dot(u, v),
                _ => 0.0,
            };
            scored.push((similarity, i, j));
        }
    }
    scored.sort_by(|p, q| q.0.total_cmp(&p.0));
    let (mut used_a, mut used_b) = (HashSet::new(), HashSet::new());
    let mut pairs = Vec::new();
    for (similarity, i, j) in scored {
        if !used_a.contains(&i) && !used_b.contains(&j) {
            used_a.insert(i);
            used_b.insert(j);
            pairs.push((similarity, left_a[i].norm.clone(), left_b[j].norm.clone()));
        }
    }
    pairs
}

/// The scorer's feature vector for a pair; `vectors` holds the unit vector
/// of each word `words_to_embed` named (a missing one aligns at 0).
pub fn features(a: &Analysis, b: &Analysis, cosine: f32, vectors: &WordVectors) -> Vec<f32> {
    let (left_a, left_b) = unmatched(a, b);
    let pairs = substitutions(&left_a, &left_b, vectors);
    let unmatched_count = (left_a.len() + left_b.len()) as f32;
    let worst = pairs.iter().map(|p| p.0).fold(1.0f32, f32::min);
    let mean = if pairs.is_empty() {
        1.0
    } else {
        pairs.iter().map(|p| p.0).sum::<f32>() / pairs.len() as f32
    };
    // "sunrise"/"sunset", "enable"/"disable", "uppercase"/"lowercase": a
    // replaced word that keeps a stem and changes the rest is a contrast.
    let contrasts = pairs.iter().filter(|p| affix_contrast(&p.1, &p.2)).count() as f32;
    // Words added with no counterpart: inside the span of shared words they
    // change what is asked ("turn off", "arguments against"); before or
    // after it they are mostly framing ("quick question:", "thanks!").
    let paired: HashSet<&str> = pairs
        .iter()
        .flat_map(|p| [p.1.as_str(), p.2.as_str()])
        .collect();
    let (mut inner, mut outer) = (0usize, 0usize);
    for (side, other, left) in [(a, b, &left_a), (b, a, &left_b)] {
        let span = side.shared_span(other);
        for word in left.iter().filter(|w| !paired.contains(w.norm.as_str())) {
            match span {
                Some((first, last)) if first < word.position && word.position < last => inner += 1,
                _ => outer += 1,
            }
        }
    }
    let total = (a.content.len() + b.content.len()).max(1) as f32;
    let german = a.german || b.german;
    let names = left_a
        .iter()
        .chain(&left_b)
        .filter(|w| w.name_like && (!german || w.norm.chars().any(|c| c.is_ascii_digit())))
        .count() as f32;
    // Pairs of shared words whose order flipped, as a share of all pairs.
    let shared = shared_positions(a, b);
    let mut flipped = 0usize;
    let mut pair_count = 0usize;
    for i in 0..shared.len() {
        for j in i + 1..shared.len() {
            pair_count += 1;
            let (x, y) = (shared[i], shared[j]);
            if (x.0 < y.0) != (x.1 < y.1) && !a.coordinated(x.0, y.0) {
                flipped += 1;
            }
        }
    }
    let order = if pair_count == 0 {
        0.0
    } else {
        flipped as f32 / pair_count as f32
    };
    // "In winter, how often ...?" / "How often ... in winter?": the order
    // changed only by moving one run of words from one end to the other
    // (the shared words' order is a rotation of the other prompt's), as a
    // clause is moved; a swap around a relation ("Rome conquered Carthage")
    // never is one.
    let moved_block = flipped > 0 && shared.len() >= 3 && {
        let descents = shared.windows(2).filter(|w| w[1].1 < w[0].1).count();
        descents == 1 && shared[shared.len() - 1].1 < shared[0].1
    };
    // One prompt names the kind of answer ("when", "who") and the other not.
    let interrogative = f32::from(u8::from(a.interrogatives != b.interrogatives));
    // A quantifier counts in a clause that holds the question's words:
    // "Just curious, how long ...?" says nothing of how much is asked.
    let quantifier = f32::from(u8::from(quantifiers_asked(a, b) != quantifiers_asked(b, a)));
    vec![
        cosine,
        pairs.len() as f32,
        inner as f32,
        outer as f32,
        worst,
        mean,
        contrasts,
        unmatched_count / total,
        names,
        order,
        interrogative,
        quantifier,
        (total / 2.0).ln_1p(),
        // Every word shared: then only order or grammar can differ.
        f32::from(u8::from(unmatched_count == 0.0)),
        if unmatched_count == 0.0 { order } else { 0.0 },
        f32::from(u8::from(moved_block)),
    ]
}

/// The quantifiers of `x` in clauses that hold a content word shared with
/// `y`.
fn quantifiers_asked(x: &Analysis, y: &Analysis) -> BTreeSet<&'static str> {
    let clauses: HashSet<usize> = x.shared_words(y).map(|w| w.clause).collect();
    x.quantifiers
        .iter()
        .filter(|(_, clause)| clauses.contains(clause))
        .map(|(quantity, _)| *quantity)
        .collect()
}

/// Two different words that share a stem of three letters or more at
/// either end.
pub(super) fn affix_contrast(a: &str, b: &str) -> bool {
    if a == b {
        return false;
    }
    let common = |x: &mut dyn Iterator<Item = (char, char)>| x.take_while(|(p, q)| p == q).count();
    let prefix = common(&mut a.chars().zip(b.chars()));
    let suffix = common(&mut a.chars().rev().zip(b.chars().rev()));
    let shorter = a.chars().count().min(b.chars().count());
    (prefix >= 3 || suffix >= 3) && prefix.max(suffix) < shorter
}

/// Learned weights of the scorer: a logistic model over standardized
/// features, and the default confidence it must reach.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Scorer {
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// The default operating point: the probability a candidate must reach.
    pub confidence: f32,
    /// Lowest cosine a candidate must have to be scored at all.
    pub min_cosine: f32,
}

pub(super) static SCORER: LazyLock<Scorer> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../verifier_weights.json"))
        .unwrap_or_else(|error| unreachable!("verifier_weights.json is checked by a test: {error}"))
});

impl Scorer {
    /// The weights shipped with the gateway.
    pub fn shipped() -> &'static Scorer {
        &SCORER
    }

    /// Probability that both prompts ask the same thing.
    pub fn probability(&self, features: &[f32]) -> f32 {
        let z: f32 = self.bias
            + features
                .iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| (x - m) / s * w)
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }
}
