//! The second stage of a semantic hit. Cosine similarity cannot tell "a
//! lasagna recipe with mushrooms" from "a lasagna recipe without mushrooms",
//! so a candidate above the threshold is served only if both prompts ask for
//! the same specifics: numbers, negations, opposite poles, names and their
//! order, quoted terms, formats and scope. Any difference is a miss: when in
//! doubt, the cache misses.

use super::lexicon::{
    DIRECTION_CUES, FORMATS, GERMAN_MARKERS, NAMES, NEGATING_PREFIXES, NEGATIONS, NUMBER_WORDS,
    OPPOSITES, ORDINALS, SCOPES, STOPWORDS,
};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

/// Which check turned a candidate down, for the shadow log and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Numbers,
    Negation,
    Polarity,
    Names,
    Order,
    Quoted,
    Format,
    Scope,
}

impl Check {
    pub fn label(self) -> &'static str {
        match self {
            Self::Numbers => "numbers",
            Self::Negation => "negation",
            Self::Polarity => "polarity",
            Self::Names => "names",
            Self::Order => "order",
            Self::Quoted => "quoted",
            Self::Format => "format",
            Self::Scope => "scope",
        }
    }
}

/// What a prompt specifically asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Specifics {
    numbers: BTreeMap<String, usize>,
    negations: usize,
    negated: BTreeSet<String>,
    poles: BTreeMap<&'static str, BTreeSet<u8>>,
    /// Names in order of appearance (canonical ids, lower case); `true` marks
    /// a name known only by its capital letter.
    names: Vec<(String, bool)>,
    german: bool,
    /// The whole prompt in lower case, to look quoted terms up in.
    lower: String,
    /// Every word, lower case, for opposites made with a prefix.
    words: BTreeSet<String>,
    directional: bool,
    quoted: BTreeSet<String>,
    formats: BTreeSet<&'static str>,
    scopes: BTreeSet<&'static str>,
}

struct Lexicon {
    numbers: HashMap<&'static str, u32>,
    ordinals: HashMap<&'static str, u32>,
    negations: HashSet<&'static str>,
    opposites: HashMap<&'static str, (&'static str, u8)>,
    formats: HashMap<&'static str, &'static str>,
    scopes: HashMap<&'static str, &'static str>,
    names: HashMap<&'static str, &'static str>,
    cues: HashSet<&'static str>,
    stopwords: HashSet<&'static str>,
    german: HashSet<&'static str>,
    token: Regex,
    quoted: Regex,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| Lexicon {
    numbers: NUMBER_WORDS.iter().copied().collect(),
    ordinals: ORDINALS.iter().copied().collect(),
    negations: NEGATIONS.iter().copied().collect(),
    opposites: OPPOSITES.iter().map(|(w, g, p)| (*w, (*g, *p))).collect(),
    formats: FORMATS.iter().copied().collect(),
    scopes: SCOPES.iter().copied().collect(),
    names: NAMES.iter().copied().collect(),
    cues: DIRECTION_CUES.iter().copied().collect(),
    stopwords: STOPWORDS.iter().copied().collect(),
    // German capitalizes every noun, so capitals say nothing about names there.
    german: GERMAN_MARKERS.iter().copied().collect(),
    token: Regex::new(r"[\p{L}\p{N}]+(?:[.,'’\-][\p{L}\p{N}]+)*[+#]*|->|→")
        .unwrap_or_else(|error| unreachable!("static regex: {error}")),
    quoted: Regex::new(r#""([^"]{1,80})"|“([^”]{1,80})”|«\s*([^»]{1,80}?)\s*»|`([^`]{1,80})`"#)
        .unwrap_or_else(|error| unreachable!("static regex: {error}")),
});

/// Extract what `text` specifically asks for.
pub fn specifics(text: &str) -> Specifics {
    let lex = &*LEXICON;
    let mut out = Specifics::default();
    for captures in lex.quoted.captures_iter(text) {
        if let Some(inner) = captures.iter().skip(1).flatten().next() {
            out.quoted.insert(inner.as_str().trim().to_lowercase());
        }
    }
    let tokens: Vec<(&str, usize)> = lex
        .token
        .find_iter(text)
        .map(|m| (m.as_str(), m.start()))
        .collect();
    let lower: Vec<String> = tokens
        .iter()
        .map(|(t, _)| without_clitics(&t.to_lowercase().replace('’', "'")))
        .collect();
    let german = lower.iter().any(|w| lex.german.contains(w.as_str()));
    out.german = german;
    out.lower = text.to_lowercase();
    out.words = lower
        .iter()
        .filter(|w| w.chars().count() >= 4)
        .cloned()
        .collect();

    let mut pending_number: Option<u64> = None;
    let flush = |out: &mut Specifics, pending: &mut Option<u64>| {
        if let Some(value) = pending.take() {
            *out.numbers.entry(value.to_string()).or_default() += 1;
        }
    };
    let mut awaiting_negated = false;
    for (index, word) in lower.iter().enumerate() {
        let raw = tokens[index].0;
        let word = word.as_str();
        // Numbers: digits as written (thousands separators dropped), number
        // words composed ("twenty five" = 25, "three hundred" = 300).
        if let Some(value) = lex.numbers.get(word) {
            let value = u64::from(*value);
            pending_number = Some(match pending_number {
                Some(before) if value >= 100 && before < value => before * value,
                Some(before) if value < 10 && before >= 20 && before % 10 == 0 => before + value,
                Some(before) => {
                    *out.numbers.entry(before.to_string()).or_default() += 1;
                    value
                }
                None => value,
            });
            continue;
        }
        flush(&mut out, &mut pending_number);
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            let digits: String = word.chars().filter(|c| *c != ',').collect();
            let number: String = digits
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let number = number.trim_end_matches('.');
            // Decimals and versions stay as written ("3.10" is not "3.1").
            let normalized = match number.parse::<u64>() {
                Ok(value) => value.to_string(),
                Err(_) => number.to_owned(),
            };
            *out.numbers.entry(normalized).or_default() += 1;
            // "5kg", "v2", "3rd": the rest is a unit or a name.
            let rest = &digits[number.len()..];
            if rest.len() > 2 {
                out.names.push((word.to_owned(), false));
            }
            continue;
        }
        if let Some(value) = lex.ordinals.get(word) {
            *out.numbers.entry(format!("#{value}")).or_default() += 1;
            continue;
        }

        // Negations, and the first content word each applies to.
        let is_negation = lex.negations.contains(word)
            || word.ends_with("n't")
            || (word.len() > 5 && word.ends_with("-free"));
        if is_negation {
            out.negations += 1;
            if let Some(stem) = word.strip_suffix("-free") {
                out.negated.insert(stem_of(stem));
            } else {
                awaiting_negated = true;
            }
        } else if awaiting_negated && !lex.stopwords.contains(word) {
            out.negated.insert(stem_of(word));
            awaiting_negated = false;
        }

        if let Some((group, pole)) = lex.opposites.get(word) {
            out.poles.entry(group).or_default().insert(*pole);
        }
        if let Some(format) = lex.formats.get(word) {
            out.formats.insert(format);
        }
        if let Some(scope) = lex.scopes.get(word) {
            out.scopes.insert(scope);
        }
        if lex.cues.contains(word) {
            out.directional = true;
        }
        if let Some(name) = lex.names.get(word) {
            out.names.push(((*name).to_owned(), false));
        } else if let Some(weak) = looks_like_name(raw, tokens[index].1, text)
            && !lex.stopwords.contains(word)
            && !lex.formats.contains_key(word)
        {
            out.names.push((word.to_owned(), weak));
        }
    }
    flush(&mut out, &mut pending_number);
    out
}

/// All caps, mixed case (`iPhone`) or letters with digits (`gpt-4o`): a
/// name (`Some(false)`). Capitalized inside a sentence: a weak name
/// (`Some(true)`), which German prompts ignore since German capitalizes nouns.
fn looks_like_name(raw: &str, start: usize, text: &str) -> Option<bool> {
    let raw = without_clitics(raw);
    let letters = raw.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 0 {
        return None;
    }
    let has_digit = raw.chars().any(|c| c.is_ascii_digit());
    let upper = raw.chars().filter(|c| c.is_uppercase()).count();
    if has_digit || (upper >= 2 && letters >= 2) {
        return Some(false);
    }
    let first_upper = raw.chars().next().is_some_and(char::is_uppercase);
    if upper == 1 && !first_upper {
        return Some(false); // iPhone, macOS
    }
    if !first_upper || raw == "I" {
        return None;
    }
    // Sentence-initial capitals are grammar, not names.
    let before = text[..start].trim_end();
    let initial =
        before.is_empty() || before.ends_with(['.', '!', '?', ':', '"', '“', '¿', '¡', '\n']);
    (!initial).then_some(true)
}

/// `l'Australie` → `Australie`, `Chrome's` → `Chrome`; `don't` stays.
fn without_clitics(word: &str) -> String {
    if word.ends_with("n't") {
        return word.to_owned();
    }
    match word.split_once('\'') {
        Some((head, tail)) if head.chars().count() <= 2 && !tail.is_empty() => tail.to_owned(),
        Some((head, "s")) => head.to_owned(),
        _ => word.to_owned(),
    }
}

/// A crude stem: enough that "mushroom" and "mushrooms" match.
fn stem_of(word: &str) -> String {
    let word = word.trim_end_matches("'s");
    match word.strip_suffix("es").or_else(|| word.strip_suffix('s')) {
        Some(stem) if stem.chars().count() >= 3 => stem.to_owned(),
        _ => word.to_owned(),
    }
}

/// Accept only if both prompts ask for the same specifics; otherwise the
/// first check that differs.
pub fn compare(stored: &Specifics, query: &Specifics) -> Result<(), Check> {
    if stored.numbers != query.numbers {
        return Err(Check::Numbers);
    }
    if stored.negations != query.negations || stored.negated != query.negated {
        return Err(Check::Negation);
    }
    if prefixed_opposite(stored, query) || prefixed_opposite(query, stored) {
        return Err(Check::Polarity);
    }
    for (group, poles) in &stored.poles {
        if let Some(other) = query.poles.get(group)
            && other != poles
        {
            return Err(Check::Polarity);
        }
    }
    let german = stored.german || query.german;
    let names = |s: &Specifics| -> Vec<String> {
        s.names
            .iter()
            .filter(|(_, weak)| !(german && *weak))
            .map(|(name, _)| name.clone())
            .collect()
    };
    let (stored_names, query_names) = (names(stored), names(query));
    let set = |names: &[String]| names.iter().cloned().collect::<BTreeSet<_>>();
    if set(&stored_names) != set(&query_names) {
        return Err(Check::Names);
    }
    let directional = stored.directional || query.directional;
    if directional && dedup(&stored_names) != dedup(&query_names) {
        return Err(Check::Order);
    }
    // German nouns are capitalized, so capitals are not compared there; but
    // the same capitalized words in another order ("von München nach
    // Berlin") still reverse a direction.
    let weak = |s: &Specifics| -> Vec<String> {
        s.names
            .iter()
            .filter(|(_, weak)| *weak)
            .map(|(n, _)| n.clone())
            .collect()
    };
    let (stored_weak, query_weak) = (weak(stored), weak(query));
    if german
        && directional
        && set(&stored_weak) == set(&query_weak)
        && dedup(&stored_weak) != dedup(&query_weak)
    {
        return Err(Check::Order);
    }
    // A quoted term must be in the other prompt too, quoted or not.
    let covered =
        |a: &Specifics, b: &Specifics| a.quoted.iter().all(|q| b.lower.contains(q.as_str()));
    if !covered(stored, query) || !covered(query, stored) {
        return Err(Check::Quoted);
    }
    if stored.formats != query.formats {
        return Err(Check::Format);
    }
    if stored.scopes != query.scopes {
        return Err(Check::Scope);
    }
    Ok(())
}

/// A word of `a` that `b` lacks but has with a negating prefix.
fn prefixed_opposite(a: &Specifics, b: &Specifics) -> bool {
    a.words
        .iter()
        .filter(|w| !b.words.contains(*w))
        .any(|word| {
            NEGATING_PREFIXES.iter().any(|prefix| {
                b.words.contains(&format!("{prefix}{word}"))
                    && !a.words.contains(&format!("{prefix}{word}"))
            })
        })
}

/// Names in first-appearance order, each once.
fn dedup(names: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    names
        .iter()
        .filter(|name| seen.insert(name.as_str()))
        .map(String::as_str)
        .collect()
}

/// Both steps at once.
pub fn verify(stored: &str, query: &str) -> Result<(), Check> {
    compare(&specifics(stored), &specifics(query))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stored: &str, query: &str, expected: Result<(), Check>) {
        assert_eq!(verify(stored, query), expected, "{stored:?} vs {query:?}");
    }

    #[test]
    fn paraphrases_pass() {
        for (a, b) in [
            (
                "How do I reset my password?",
                "What are the steps to reset my password?",
            ),
            (
                "Give me three tips for sleeping better",
                "What are 3 tips to sleep better?",
            ),
            (
                "Lasagna recipe without mushrooms",
                "A lasagna recipe with no mushrooms",
            ),
            (
                "Translate 'good morning' into French",
                "How do you say 'good morning' in French?",
            ),
            ("Convert 100 USD to EUR", "How much is 100 USD in EUR?"),
            (
                "Explain Rust ownership",
                "Can you explain ownership in Rust?",
            ),
            ("What is twenty five times four?", "What's 25 times 4?"),
            (
                "Wie setze ich mein Passwort zurück?",
                "Wie kann ich mein Passwort zurücksetzen?",
            ),
        ] {
            check(a, b, Ok(()));
        }
    }

    #[test]
    fn near_misses_fail_on_the_right_check() {
        for (a, b, failed) in [
            (
                "Give me three tips for sleeping better",
                "Give me five tips for sleeping better",
                Check::Numbers,
            ),
            (
                "Lasagna recipe with mushrooms",
                "Lasagna recipe without mushrooms",
                Check::Negation,
            ),
            (
                "Vegan lasagna with mushrooms but no onions",
                "Vegan lasagna with onions but no mushrooms",
                Check::Negation,
            ),
            (
                "A gluten-free bread recipe",
                "A bread recipe",
                Check::Negation,
            ),
            (
                "How do I increase the volume?",
                "How do I decrease the volume?",
                Check::Polarity,
            ),
            (
                "Convert 100 USD to EUR",
                "Convert 100 EUR to USD",
                Check::Order,
            ),
            (
                "Translate this from English to French",
                "Translate this from French to English",
                Check::Order,
            ),
            (
                "How do I install Python on Windows?",
                "How do I install Python on macOS?",
                Check::Names,
            ),
            ("Reset my iPhone", "Reset my Pixel", Check::Names),
            (
                "Explain the word \"irony\"",
                "Explain the word \"sarcasm\"",
                Check::Quoted,
            ),
            (
                "List the planets as JSON",
                "List the planets as YAML",
                Check::Format,
            ),
            (
                "Summarize WWII in one sentence",
                "Summarize WWII in five bullets",
                Check::Numbers,
            ),
            (
                "Describe photosynthesis as a poem",
                "Describe photosynthesis as a table",
                Check::Format,
            ),
            (
                "Explain photosynthesis briefly",
                "Explain photosynthesis in detail",
                Check::Scope,
            ),
            (
                "What's new in Python 3.12?",
                "What's new in Python 3.11?",
                Check::Numbers,
            ),
            (
                "Wie komme ich von München nach Berlin?",
                "Wie komme ich von Berlin nach München?",
                Check::Order,
            ),
            (
                "Wie aktiviere ich den Dunkelmodus?",
                "Wie deaktiviere ich den Dunkelmodus?",
                Check::Polarity,
            ),
            (
                "How do I lock my screen?",
                "How do I unlock my screen?",
                Check::Polarity,
            ),
            (
                "Convierte 100 euros a dólares.",
                "Convierte 100 dólares a euros.",
                Check::Order,
            ),
        ] {
            check(a, b, Err(failed));
        }
    }

    #[test]
    fn number_words_are_numbers() {
        let numbers = |text: &str| specifics(text).numbers.into_keys().collect::<Vec<_>>();
        assert_eq!(numbers("three hundred apples"), ["300"]);
        assert_eq!(numbers("twenty five, then 1,000"), ["1000", "25"]);
        assert_eq!(numbers("drei Tipps"), ["3"]);
        assert_eq!(numbers("version 3.10 or 007"), ["3.10", "7"]);
        assert_eq!(numbers("the third planet"), ["#3"]);
    }
}
