//! The first check, closed classes only: numbers, negation, direction roles
//! and question words must agree between the two prompts.

use super::*;

/// The structural checks: numbers, negation, direction roles. `Err` names
/// the first that differs.
pub fn structure(stored: &Analysis, query: &Analysis) -> Result<(), Check> {
    // Two numbers in another order ("20 of 80", "80 of 20") ask another thing.
    let distinct = stored.numbers.len();
    if stored.numbers != query.numbers
        || (distinct >= 2 && stored.number_order != query.number_order)
    {
        return Err(Check::Numbers);
    }
    if stored.negations != query.negations
        || stored.negated != query.negated
        || affixed_opposite(stored, query)
        || affixed_opposite(query, stored)
    {
        return Err(Check::Negation);
    }
    if !stored.interrogatives.is_empty()
        && !query.interrogatives.is_empty()
        && stored.interrogatives != query.interrogatives
    {
        return Err(Check::Question);
    }
    if roles_differ(stored, query) || swapped(stored, query) || names_flipped(stored, query) {
        return Err(Check::Direction);
    }
    Ok(())
}

/// A word of `a` that `b` has only with a negating prefix or suffix
/// ("lock"/"unlock", "sugar"/"sugar-free").
pub(super) fn affixed_opposite(a: &Analysis, b: &Analysis) -> bool {
    let a_words: HashSet<&str> = a.tokens.iter().map(String::as_str).collect();
    let b_words: HashSet<&str> = b.tokens.iter().map(String::as_str).collect();
    a_words
        .iter()
        .filter(|w| w.chars().count() >= 3 && !b_words.contains(*w))
        .any(|word| {
            NEGATING_PREFIXES.iter().any(|prefix| {
                let longer = format!("{prefix}{word}");
                b_words.contains(longer.as_str()) && !a_words.contains(longer.as_str())
            }) || NEGATING_SUFFIXES.iter().any(|suffix| {
                let longer = format!("{word}{suffix}");
                b_words.contains(longer.as_str()) && !a_words.contains(longer.as_str())
            })
        })
}

/// A word that follows a direction preposition in one prompt must not
/// follow another one in the other, and a role ("to", "from", "than") held
/// by one shared word must not pass to another ("USD to EUR", "EUR to
/// USD"). A role present on one side only ("how to write" against "how do
/// I write") says nothing.
pub(super) fn roles_differ(a: &Analysis, b: &Analysis) -> bool {
    let holders = |x: &Analysis, y: &Analysis| -> BTreeMap<&'static str, BTreeSet<String>> {
        let mut map: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        for word in &x.content {
            if let Some(role) = word.role
                && y.content.iter().any(|o| same_word(word, o))
            {
                map.entry(role).or_default().insert(word.stem.clone());
            }
        }
        map
    };
    let (in_a, in_b) = (holders(a, b), holders(b, a));
    // Stems of b's holders as a's words: compare through `same_word`.
    for (role, words_a) in &in_a {
        let Some(words_b) = in_b.get(role) else {
            continue;
        };
        let same = |x: &String, y: &String| {
            let (wx, wy) = (word_of(a, x), word_of(b, y));
            matches!((wx, wy), (Some(wx), Some(wy)) if same_word(wx, wy))
        };
        let covered = words_a.iter().all(|x| words_b.iter().any(|y| same(x, y)))
            && words_b.iter().all(|y| words_a.iter().any(|x| same(x, y)));
        if !covered {
            return true;
        }
    }
    // A shared word with one role here and another there.
    a.content.iter().any(|word| {
        b.content.iter().any(|other| {
            same_word(word, other)
                && matches!((word.role, other.role), (Some(x), Some(y)) if x != y)
        })
    })
}

/// Two shared words that traded places around the same words ("Federer
/// beat Nadal" / "Nadal beat Federer", "every square a rectangle" / "every
/// rectangle a square"), unless a coordinator joins them ("rent or buy").
pub(super) fn swapped(a: &Analysis, b: &Analysis) -> bool {
    let shared: Vec<(usize, usize)> = shared_positions(a, b);
    let sorted = |tokens: &[String]| {
        let mut tokens = tokens.to_vec();
        tokens.sort();
        tokens
    };
    shared.iter().enumerate().any(|(i, x)| {
        shared[i + 1..].iter().any(|y| {
            (x.0 < y.0) != (x.1 < y.1)
                && !a.between(x.0, y.0).is_empty()
                && !a.coordinated(x.0, y.0)
                && sorted(a.between(x.0, y.0)) == sorted(b.between(x.1, y.1))
        })
    })
}

/// Two names both prompts share, in the other order and not joined by a
/// coordinator: who did what to whom changed ("Did Rome conquer Carthage?"
/// / "Did Carthage conquer Rome?").
pub(super) fn names_flipped(a: &Analysis, b: &Analysis) -> bool {
    // (position here, position there, both hold a direction role): names
    // whose roles say who is who ("from Rome to Oslo" / "to Oslo from
    // Rome") are left to `roles_differ`.
    let names: Vec<(usize, usize, bool)> = a
        .content
        .iter()
        .filter(|w| w.name_like && !a.german)
        .filter_map(|w| {
            b.content
                .iter()
                .find(|o| same_word(w, o))
                .map(|o| (w.position, o.position, w.role.is_some() && o.role.is_some()))
        })
        .collect();
    names.iter().enumerate().any(|(i, x)| {
        names[i + 1..].iter().any(|y| {
            (x.0 < y.0) != (x.1 < y.1)
                && (!x.2 || !y.2)
                && !a.coordinated(x.0, y.0)
                && !b.coordinated(x.1, y.1)
        })
    })
}

/// Positions (here, there) of each content word of `a` that `b` shares.
pub(super) fn shared_positions(a: &Analysis, b: &Analysis) -> Vec<(usize, usize)> {
    a.content
        .iter()
        .filter_map(|w| {
            b.content
                .iter()
                .find(|o| same_word(w, o))
                .map(|o| (w.position, o.position))
        })
        .collect()
}

pub(super) fn word_of<'a>(analysis: &'a Analysis, stem: &str) -> Option<&'a Word> {
    analysis.content.iter().find(|w| w.stem == stem)
}
