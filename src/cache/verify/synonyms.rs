//! Word senses from WordNet (`src/cache/synonyms.txt`, written by
//! `scripts/build-cache-synonyms`): two content words that share a sense
//! ("start"/"begin", "buy"/"purchase") are the same word to the alignment.
//! The embedding model's single-word vectors cannot say this: they place
//! "start"/"begin" no closer than "tenant"/"landlord", because words used
//! in the same places are close whether they mean the same or the opposite.
//! A synset holds words of one meaning only: never antonyms, never
//! siblings ("egg"/"rice"), never a part for a whole.

use super::*;

/// Senses by word, and WordNet's irregular forms.
struct Senses {
    by_word: HashMap<&'static str, Vec<u32>>,
    irregular: HashMap<&'static str, Vec<&'static str>>,
}

static SENSES: LazyLock<Senses> = LazyLock::new(|| {
    let mut by_word: HashMap<&'static str, Vec<u32>> = HashMap::new();
    let mut irregular = HashMap::new();
    let mut synset = 0u32;
    for line in include_str!("../synonyms.txt").lines() {
        let mut fields = line.split(' ');
        match fields.next() {
            Some("S") => {
                for word in fields {
                    by_word.entry(word).or_default().push(synset);
                }
                synset += 1;
            }
            Some("X") => {
                if let Some(form) = fields.next() {
                    irregular.insert(form, fields.collect());
                }
            }
            _ => {}
        }
    }
    Senses { by_word, irregular }
});

/// WordNet's detachment rules (its `morphy`): an inflected form's base is
/// the form with one of these endings replaced, when that base is a word.
const DETACHMENTS: &[(&str, &str)] = &[
    ("s", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
    ("es", "e"),
    ("es", ""),
    ("ed", "e"),
    ("ed", ""),
    ("ing", "e"),
    ("ing", ""),
    ("er", ""),
    ("est", ""),
    ("er", "e"),
    ("est", "e"),
];

/// The senses of a (folded, lower-case) word, over the word itself and its
/// base forms: sorted, without repeats. Empty for a word WordNet lacks.
pub fn senses(word: &str) -> Vec<u32> {
    let senses = &*SENSES;
    let mut out: Vec<u32> = Vec::new();
    let mut add = |base: &str| {
        if let Some(ids) = senses.by_word.get(base) {
            out.extend_from_slice(ids);
        }
    };
    add(word);
    if let Some(bases) = senses.irregular.get(word) {
        for base in bases {
            add(base);
        }
    }
    let mut base = String::with_capacity(word.len() + 2);
    for (ending, replacement) in DETACHMENTS {
        if let Some(head) = word.strip_suffix(ending)
            && head.len() >= 2
        {
            base.clear();
            base.push_str(head);
            base.push_str(replacement);
            add(&base);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether two sorted sense lists share a sense.
pub(super) fn share_a_sense(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synonyms(a: &str, b: &str) -> bool {
        share_a_sense(&senses(a), &senses(b))
    }

    #[test]
    fn words_of_one_meaning_share_a_sense() {
        for (a, b) in [
            ("start", "begin"),
            ("buy", "purchase"),
            ("cheap", "inexpensive"),
            ("started", "beginning"),
            ("children", "kids"),
            ("cars", "automobile"),
        ] {
            assert!(synonyms(a, b), "{a} / {b}");
        }
    }

    #[test]
    fn opposites_siblings_and_unknown_words_do_not() {
        for (a, b) in [
            ("buy", "sell"),
            ("tenant", "landlord"),
            ("egg", "rice"),
            ("increase", "decrease"),
            ("hot", "cold"),
            ("kubectl", "kubernetes"),
        ] {
            assert!(!synonyms(a, b), "{a} / {b}");
        }
    }
}
