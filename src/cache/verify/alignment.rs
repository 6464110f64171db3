//! Content words matched across the two prompts: the same word, its stem, or
//! a typo of it; what is left unmatched goes to the scorer.

use super::*;

/// Edit distance with transpositions, capped: `None` when over `cap`.
pub(super) fn typo_distance(a: &str, b: &str, cap: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > cap {
        return None;
    }
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (prev[j] + 1)
                .min(current[j - 1] + 1)
                .min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, current);
    }
    let distance = prev[b.len()];
    (distance <= cap).then_some(distance)
}

/// Whether two content words are the same word: equal, same stem, a
/// compound split differently, a typo (never for names with digits), or
/// words that share a sense.
pub(super) fn same_word(a: &Word, b: &Word) -> bool {
    if a.norm == b.norm || a.stem == b.stem || share_a_sense(&a.senses, &b.senses) {
        return true;
    }
    if a.norm.chars().any(|c| c.is_ascii_digit()) || b.norm.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    // A typo rarely touches the first letter; "ascending" is not a typo of
    // "descending".
    is_typo(&a.norm, &b.norm)
}

/// A slip of the keyboard: one edit in a word of five letters or more, two
/// from eight, and in a short word only two neighbours swapped ("dya").
pub(super) fn is_typo(a: &str, b: &str) -> bool {
    if a.chars().next() != b.chars().next() || a.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let shorter = a.chars().count().min(b.chars().count());
    match shorter {
        0..=2 => false,
        3..=4 => {
            let (mut x, mut y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            let distance = typo_distance(a, b, 1);
            x.sort_unstable();
            y.sort_unstable();
            distance == Some(1) && x == y
        }
        5..=7 => typo_distance(a, b, 1).is_some(),
        _ => typo_distance(a, b, 2).is_some(),
    }
}

/// Content words of each side with no same word on the other side; a
/// word written as two on the other side ("zurück setzen" = "zurücksetzen",
/// "data base" = "database") counts as matched.
pub fn unmatched<'a>(a: &'a Analysis, b: &'a Analysis) -> (Vec<&'a Word>, Vec<&'a Word>) {
    fn joined(analysis: &Analysis) -> HashSet<String> {
        analysis
            .content
            .windows(2)
            .map(|pair| format!("{}{}", pair[0].norm, pair[1].norm))
            .collect()
    }
    fn parts_of_joined(analysis: &Analysis, other_words: &HashSet<&str>) -> HashSet<usize> {
        let mut parts = HashSet::new();
        for (i, pair) in analysis.content.windows(2).enumerate() {
            if other_words.contains(format!("{}{}", pair[0].norm, pair[1].norm).as_str()) {
                parts.insert(i);
                parts.insert(i + 1);
            }
        }
        parts
    }
    let (a_joined, b_joined) = (joined(a), joined(b));
    let a_words: HashSet<&str> = a.content.iter().map(|w| w.norm.as_str()).collect();
    let b_words: HashSet<&str> = b.content.iter().map(|w| w.norm.as_str()).collect();
    let (a_parts, b_parts) = (parts_of_joined(a, &b_words), parts_of_joined(b, &a_words));
    let left =
        |x: &'a Analysis, y: &'a Analysis, y_joined: &HashSet<String>, x_parts: &HashSet<usize>| {
            x.content
                .iter()
                .enumerate()
                .filter(|(i, w)| {
                    !y.content.iter().any(|o| same_word(w, o))
                    && !y_joined.contains(&w.norm)
                    && !x_parts.contains(i)
                    // "shoud": a slip on one of the other prompt's function words.
                    && !y.tokens.iter().any(|t| is_typo(&w.norm, t))
                })
                .map(|(_, w)| w)
                .collect::<Vec<_>>()
        };
    (
        left(a, b, &b_joined, &a_parts),
        left(b, a, &a_joined, &b_parts),
    )
}

/// The new prompt written with the stored prompt's words wherever the
/// alignment found the two the same but spelled differently (a typo,
/// another form, a synonym), so that a similarity can be measured on what
/// the prompts mean rather than on how each was typed: the model reads a
/// misspelled word as unrelated pieces ("populaton" is not "population" to
/// it). `None` when no word was spelled differently.
pub fn aligned_query(
    stored: &Analysis,
    stored_text: &str,
    query: &Analysis,
    query_text: &str,
) -> Option<String> {
    let mut replacements: Vec<(std::ops::Range<usize>, &str)> = Vec::new();
    for word in &query.content {
        let Some(span) = word.span.clone() else {
            continue;
        };
        if stored.content.iter().any(|o| o.norm == word.norm) {
            continue;
        }
        let counterpart = stored
            .content
            .iter()
            .find(|o| same_word(word, o))
            .and_then(|o| o.span.clone())
            .and_then(|s| stored_text.get(s));
        if let Some(counterpart) = counterpart {
            replacements.push((span, counterpart));
        }
    }
    if replacements.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(query_text.len() + 16);
    let mut at = 0;
    for (span, counterpart) in replacements {
        out.push_str(query_text.get(at..span.start)?);
        out.push_str(counterpart);
        at = span.end;
    }
    out.push_str(query_text.get(at..)?);
    Some(out)
}

/// The similarity the cache judges a candidate by: the better of the
/// prompts' cosine as written and the one after `aligned_query`, when there
/// is one. The gateway and the evaluation both call this, so the
/// evaluation's figures are the gateway's.
pub fn judged_similarity(as_written: f32, aligned: Option<f32>) -> f32 {
    aligned.map_or(as_written, |aligned| aligned.max(as_written))
}
