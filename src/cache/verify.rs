//! The second stage of a semantic hit. Cosine similarity cannot tell "a
//! lasagna recipe with mushrooms" from "a lasagna recipe without mushrooms",
//! nor "flights from Rome to Oslo" from "flights from Oslo to Rome", so a
//! candidate above the threshold is compared with the new prompt word by
//! word:
//!
//! 1. Structure, closed classes only: the numbers asked for (digits, number
//!    words, ordinals), negation (negators, `n't`, negating prefixes and
//!    suffixes), and the role of each word after a direction preposition.
//!    Any difference is a miss.
//! 2. Alignment of content words: every content word (not a function word,
//!    not a framing word like "please" or "explain") must find a
//!    counterpart in the other prompt: the same word, its stem, a typo of
//!    it, or, failing those, the nearest word by the embedding model's own
//!    vectors. How well the unmatched words align, how many there are, and
//!    whether names or the order of aligned words changed are the features.
//! 3. A small logistic scorer over those features and the cosine, whose
//!    weights are data (`verifier_weights.json`, trained on the development
//!    half of the evaluation set by `examples/train_cache_verifier.rs`),
//!    gives the probability that both prompts ask the same thing; it must
//!    reach the route's confidence.
//!
//! When in doubt, the cache misses.

use super::closed_classes::{
    COORDINATORS, DIRECTION_ROLES, FRAMING_WORDS, FUNCTION_WORDS, INTERROGATIVES,
    NEGATING_PREFIXES, NEGATING_SUFFIXES, NEGATORS, NUMBER_WORDS, ORDINALS, QUANTIFIERS,
    SPANISH_MARKERS, SPANISH_ROLES,
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
    Direction,
    Question,
    Score,
}

impl Check {
    pub fn label(self) -> &'static str {
        match self {
            Self::Numbers => "numbers",
            Self::Negation => "negation",
            Self::Direction => "direction",
            Self::Question => "question",
            Self::Score => "score",
        }
    }
}

/// One content word of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Lower case, accents folded, clitics removed.
    pub norm: String,
    /// A crude stem of `norm`.
    pub stem: String,
    /// Written like a name: capitalized inside a sentence, all caps, mixed
    /// case, or with digits.
    pub name_like: bool,
    /// Position among the prompt's tokens.
    pub position: usize,
    /// The direction role of the preposition before it, if any.
    pub role: Option<&'static str>,
}

/// What the verifier needs to know of one prompt.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Analysis {
    pub numbers: BTreeMap<String, usize>,
    /// The numbers in order of appearance.
    pub number_order: Vec<String>,
    pub negations: usize,
    /// Stems of the first content word after each negator.
    pub negated: BTreeSet<String>,
    pub content: Vec<Word>,
    pub interrogatives: BTreeSet<&'static str>,
    pub quantifiers: BTreeSet<&'static str>,
    /// Every token, normalized, for prefix and compound checks.
    tokens: Vec<String>,
    german: bool,
}

struct Classes {
    numbers: HashMap<String, u32>,
    ordinals: HashMap<String, u32>,
    negators: HashSet<String>,
    roles: HashMap<String, &'static str>,
    spanish_roles: HashMap<String, &'static str>,
    spanish: HashSet<String>,
    interrogatives: HashMap<String, &'static str>,
    coordinators: HashSet<String>,
    quantifiers: HashMap<String, &'static str>,
    function: HashSet<String>,
    framing: HashSet<String>,
    token: Regex,
}

static CLASSES: LazyLock<Classes> = LazyLock::new(|| {
    let folded = |w: &str| fold(w);
    Classes {
        numbers: NUMBER_WORDS.iter().map(|(w, v)| (folded(w), *v)).collect(),
        ordinals: ORDINALS.iter().map(|(w, v)| (folded(w), *v)).collect(),
        negators: NEGATORS.iter().map(|w| folded(w)).collect(),
        roles: DIRECTION_ROLES
            .iter()
            .map(|(w, r)| ((*w).to_owned(), *r))
            .collect(),
        spanish_roles: SPANISH_ROLES
            .iter()
            .map(|(w, r)| ((*w).to_owned(), *r))
            .collect(),
        spanish: SPANISH_MARKERS.iter().map(|w| (*w).to_owned()).collect(),
        interrogatives: INTERROGATIVES
            .iter()
            .map(|(w, k)| (folded(w), *k))
            .collect(),
        coordinators: COORDINATORS.iter().map(|w| folded(w)).collect(),
        quantifiers: QUANTIFIERS.iter().map(|(w, q)| (folded(w), *q)).collect(),
        function: FUNCTION_WORDS.iter().map(|w| folded(w)).collect(),
        framing: FRAMING_WORDS.iter().map(|w| folded(w)).collect(),
        token: Regex::new(r"[\p{L}\p{N}]+(?:[.,'’\-][\p{L}\p{N}]+)*[+#]*|->|→")
            .unwrap_or_else(|error| unreachable!("static regex: {error}")),
    }
});

/// Lower case with the accents of Latin letters removed and `ß` as `ss`, so
/// that a missing accent is not a different word.
pub fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => out.push('a'),
            'ç' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => out.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'ß' => out.push_str("ss"),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            '’' => out.push('\''),
            other => out.push(other),
        }
    }
    out
}

/// A crude stem, enough that "mushroom" and "mushrooms", "install" and
/// "installing" meet.
pub fn stem(word: &str) -> String {
    let chars = word.chars().count();
    for suffix in [
        "ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ed", "es", "en", "er",
        "s", "e",
    ] {
        if let Some(head) = word.strip_suffix(suffix)
            && head.chars().count() >= 3
            && chars > suffix.len() + 2
        {
            return head.to_owned();
        }
    }
    word.to_owned()
}

/// Split English contractions and French/Italian elisions: `don't` → `do`
/// `not`, `what's` → `what` `is`, `l'avion` → `avion`.
fn expand(token: &str) -> Vec<String> {
    let token = token.replace('’', "'");
    if let Some(head) = token.strip_suffix("n't") {
        let head = match head {
            "wo" => "will",
            "ca" => "can",
            "sha" => "shall",
            other => other,
        };
        return vec![head.to_owned(), "not".to_owned()];
    }
    if let Some((head, tail)) = token.split_once('\'') {
        if head.chars().count() <= 2 && !tail.is_empty() {
            return vec![tail.to_owned()];
        }
        return match tail {
            "s" | "re" | "m" | "ve" | "ll" | "d" => vec![head.to_owned()],
            _ => vec![token.clone()],
        };
    }
    vec![token]
}

/// "three-month-old" → "three", "month", "old"; "gluten-free" → "gluten",
/// "-free"; "e-mail" and "gpt-4o" stay whole (a part too short to stand
/// alone, or digits with letters).
fn hyphen_parts(token: &str) -> Vec<String> {
    let parts: Vec<&str> = token.split('-').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.chars().count() < 2) {
        return vec![token.to_owned()];
    }
    let mixed =
        |p: &str| p.chars().any(|c| c.is_ascii_digit()) && p.chars().any(char::is_alphabetic);
    if parts.iter().any(|p| mixed(p)) {
        return vec![token.to_owned()];
    }
    parts
        .iter()
        .map(|p| {
            if ["free", "frei"].contains(&fold(p).as_str()) {
                "-free".to_owned()
            } else {
                (*p).to_owned()
            }
        })
        .collect()
}

/// Read what `text` asks for.
pub fn analyse(text: &str) -> Analysis {
    let classes = &*CLASSES;
    let mut out = Analysis::default();
    let mut pending_number: Option<u64> = None;
    let mut role: Option<&'static str> = None;
    let mut position = 0usize;
    let flush = |out: &mut Analysis, pending: &mut Option<u64>| {
        if let Some(value) = pending.take() {
            out.add_number(value.to_string());
        }
    };
    // Tokens left until a negator's scope closes without a content word.
    let mut negating = 0usize;
    // A prompt in capitals or Title Case says nothing by its capitals.
    let words: Vec<&str> = classes.token.find_iter(text).map(|m| m.as_str()).collect();
    let capitalized = words
        .iter()
        .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
        .count();
    let capitals_mean_names = words.len() < 3 || capitalized * 5 < words.len() * 4;
    let spanish = text.contains(['¿', '¡'])
        || words
            .iter()
            .filter(|w| classes.spanish.contains(&w.to_lowercase()))
            .count()
            >= 2;
    for found in classes.token.find_iter(text) {
        let raw = found.as_str();
        let sentence_initial = {
            let before = text[..found.start()].trim_end();
            before.is_empty() || before.ends_with(['.', '!', '?', ':', '"', '“', '¿', '¡', '\n'])
        };
        for piece in expand(raw).iter().flat_map(|p| hyphen_parts(p)) {
            if piece == "-free" {
                // "gluten-free": a negation of the word before it.
                out.negations += 1;
                continue;
            }
            let word = fold(&piece);
            position += 1;
            out.tokens.push(word.clone());
            // Numbers: digit strings as written (thousands separators
            // dropped), number words composed.
            if let Some(value) = classes.numbers.get(&word) {
                let value = u64::from(*value);
                pending_number = Some(match pending_number {
                    Some(before) if value >= 100 && before < value => before * value,
                    Some(before) if value < 10 && before >= 20 && before % 10 == 0 => {
                        before + value
                    }
                    Some(before) => {
                        out.add_number(before.to_string());
                        value
                    }
                    None => value,
                });
                role = None;
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
                let normalized = match number.parse::<u64>() {
                    Ok(value) => value.to_string(),
                    // Decimals and versions stay as written ("3.10" is not "3.1").
                    Err(_) => number.to_owned(),
                };
                // "3rd" is the ordinal, "5kg" a number and a unit, "v2" a name.
                let rest = &digits[number.len()..];
                if matches!(
                    rest,
                    "st" | "nd" | "rd" | "th" | "e" | "er" | "eme" | "o" | "a" | "ten" | "te"
                ) && !normalized.contains('.')
                {
                    out.add_number(format!("#{normalized}"));
                    continue;
                }
                out.add_number(normalized);
                if rest.chars().count() > 2 {
                    push_content(&mut out, rest, true, position, role.take());
                }
                continue;
            }
            if let Some(value) = classes.ordinals.get(&word) {
                out.add_number(format!("#{value}"));
                continue;
            }
            if classes.negators.contains(&word) {
                out.negations += 1;
                negating = 4;
                continue;
            }
            negating = negating.saturating_sub(1);
            if let Some(kind) = classes.interrogatives.get(&word) {
                out.interrogatives.insert(kind);
            }
            // Roles by the word as written: folded, "à" would be the "a" of
            // every English sentence.
            let lower = piece.to_lowercase();
            let spanish_role = if spanish {
                classes.spanish_roles.get(&lower)
            } else {
                None
            };
            if let Some(next_role) = classes.roles.get(&lower).or(spanish_role) {
                role = Some(next_role);
                continue;
            }
            if let Some(quantity) = classes.quantifiers.get(&word) {
                out.quantifiers.insert(quantity);
            }
            let name_like = capitals_mean_names && looks_like_name(&piece, sentence_initial);
            // A capitalized "Go" or "C" inside a sentence is a name, whatever
            // the same letters mean in lower case.
            if !name_like
                && (classes.function.contains(&word)
                    || classes.framing.contains(&word)
                    || classes.coordinators.contains(&word)
                    || classes.interrogatives.contains_key(&word))
            {
                continue;
            }
            if negating > 0 {
                out.negated.insert(stem(&word));
                negating = 0;
            }
            // "one" and "only" also count as content when no closed class
            // took them, so they are quantifiers and words at once.
            push_content(&mut out, &word, name_like, position, role.take());
        }
    }
    flush(&mut out, &mut pending_number);
    // German capitalizes every noun: capitals say little about names there.
    let german = out
        .tokens
        .iter()
        .filter(|t| {
            matches!(
                t.as_str(),
                "der"
                    | "die"
                    | "das"
                    | "und"
                    | "ist"
                    | "ich"
                    | "nicht"
                    | "mit"
                    | "wie"
                    | "ein"
                    | "eine"
                    | "fur"
                    | "auf"
                    | "mein"
                    | "meine"
                    | "kann"
                    | "bitte"
                    | "von"
            )
        })
        .count()
        >= 1;
    out.german = german;
    out
}

impl Analysis {
    fn add_number(&mut self, number: String) {
        *self.numbers.entry(number.clone()).or_default() += 1;
        self.number_order.push(number);
    }

    /// The tokens strictly between two positions.
    fn between(&self, from: usize, to: usize) -> &[String] {
        let (low, high) = (from.min(to), from.max(to));
        self.tokens
            .get(low..high.saturating_sub(1))
            .unwrap_or_default()
    }

    /// Whether two words are joined by a coordinator and nothing but
    /// function words ("rent or buy", "a Deployment and a StatefulSet").
    fn coordinated(&self, from: usize, to: usize) -> bool {
        let classes = &*CLASSES;
        let between = self.between(from, to);
        between.iter().any(|t| classes.coordinators.contains(t))
            && between
                .iter()
                .all(|t| classes.coordinators.contains(t) || classes.function.contains(t))
    }

    /// Positions of the first and last content word shared with `other`.
    fn shared_span(&self, other: &Analysis) -> Option<(usize, usize)> {
        let shared: Vec<usize> = self
            .content
            .iter()
            .filter(|w| other.content.iter().any(|o| same_word(w, o)))
            .map(|w| w.position)
            .collect();
        Some((*shared.iter().min()?, *shared.iter().max()?))
    }
}

fn push_content(
    out: &mut Analysis,
    word: &str,
    name_like: bool,
    position: usize,
    role: Option<&'static str>,
) {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    if word.is_empty() {
        return;
    }
    out.content.push(Word {
        norm: word.to_owned(),
        stem: stem(word),
        name_like,
        position,
        role,
    });
}

/// All caps, mixed case (`iPhone`), letters with digits (`gpt-4o`), or
/// capitalized inside a sentence.
fn looks_like_name(raw: &str, sentence_initial: bool) -> bool {
    let letters = raw.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 0 {
        return false;
    }
    let upper = raw.chars().filter(|c| c.is_uppercase()).count();
    let first_upper = raw.chars().next().is_some_and(char::is_uppercase);
    let has_digit = raw.chars().any(|c| c.is_ascii_digit());
    has_digit
        || (upper >= 2 && letters >= 2)
        || (upper >= 1 && !first_upper)
        || (first_upper && !sentence_initial && raw != "I")
}

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
fn affixed_opposite(a: &Analysis, b: &Analysis) -> bool {
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
fn roles_differ(a: &Analysis, b: &Analysis) -> bool {
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
fn swapped(a: &Analysis, b: &Analysis) -> bool {
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
fn names_flipped(a: &Analysis, b: &Analysis) -> bool {
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
fn shared_positions(a: &Analysis, b: &Analysis) -> Vec<(usize, usize)> {
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

fn word_of<'a>(analysis: &'a Analysis, stem: &str) -> Option<&'a Word> {
    analysis.content.iter().find(|w| w.stem == stem)
}

/// Edit distance with transpositions, capped: `None` when over `cap`.
fn typo_distance(a: &str, b: &str, cap: usize) -> Option<usize> {
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
/// compound split differently, or a typo (never for names with digits).
fn same_word(a: &Word, b: &Word) -> bool {
    if a.norm == b.norm || a.stem == b.stem {
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
fn is_typo(a: &str, b: &str) -> bool {
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

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Pair the unmatched words of both sides greedily, most similar first:
/// each pair is a word replaced by another; what is left over on the
/// longer side was added. Returns the pairs' similarities.
fn substitutions(
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
    // One prompt names the kind of answer ("when", "who") and the other not.
    let interrogative = f32::from(u8::from(a.interrogatives != b.interrogatives));
    let quantifier = f32::from(u8::from(a.quantifiers != b.quantifiers));
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
    ]
}

/// Two different words that share a stem of three letters or more at
/// either end.
fn affix_contrast(a: &str, b: &str) -> bool {
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

static SCORER: LazyLock<Scorer> = LazyLock::new(|| {
    serde_json::from_str(include_str!("verifier_weights.json"))
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

/// The verifier's verdict on a pair: the probability, once the structure
/// passed, and the check that failed, if any.
pub fn judge(
    stored: &Analysis,
    query: &Analysis,
    cosine: f32,
    vectors: &WordVectors,
    confidence: f32,
) -> (Option<f32>, Result<(), Check>) {
    if let Err(check) = structure(stored, query) {
        return (None, Err(check));
    }
    let probability = Scorer::shipped().probability(&features(stored, query, cosine, vectors));
    let verdict = if probability >= confidence {
        Ok(())
    } else {
        Err(Check::Score)
    };
    (Some(probability), verdict)
}

/// The feature vector of a pair with word vectors from `model` directly,
/// for the evaluation and the scorer's training, which run outside the
/// gateway's embedding thread.
pub fn features_from_model(
    model: &dyn crate::seams::embedding::EmbeddingModel,
    stored: &Analysis,
    query: &Analysis,
    cosine: f32,
) -> Vec<f32> {
    let words = words_to_embed(stored, query);
    let texts: Vec<&str> = words.iter().map(String::as_str).collect();
    let vectors: WordVectors = if texts.is_empty() {
        WordVectors::new()
    } else {
        words.iter().cloned().zip(model.embed(&texts)).collect()
    };
    features(stored, query, cosine, &vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stored: &str, query: &str) -> Result<(), Check> {
        structure(&analyse(stored), &analyse(query))
    }

    #[test]
    fn structure_passes_rewordings() {
        for (a, b) in [
            (
                "Give me three tips for sleeping better",
                "What are 3 tips to sleep better?",
            ),
            (
                "Lasagna recipe without mushrooms",
                "A lasagna recipe with no mushrooms",
            ),
            ("Convert 100 USD to EUR", "How much is 100 USD in EUR?"),
            ("What is twenty five times four?", "What's 25 times 4?"),
            ("I don't want onions", "I do not want onions"),
            ("Flights from Rome to Oslo", "Flights to Oslo from Rome"),
        ] {
            assert_eq!(check(a, b), Ok(()), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn structure_catches_the_closed_classes() {
        for (a, b, failed) in [
            ("Give me three tips", "Give me five tips", Check::Numbers),
            ("the second planet", "the third planet", Check::Numbers),
            (
                "Lasagna with mushrooms",
                "Lasagna without mushrooms",
                Check::Negation,
            ),
            (
                "How do I lock my screen?",
                "How do I unlock my screen?",
                Check::Negation,
            ),
            (
                "A bread recipe",
                "A gluten-free bread recipe",
                Check::Negation,
            ),
            (
                "Convert 100 USD to EUR",
                "Convert 100 EUR to USD",
                Check::Direction,
            ),
            (
                "from English to French",
                "from French to English",
                Check::Direction,
            ),
            (
                "Wie komme ich von München nach Berlin?",
                "Wie komme ich von Berlin nach München?",
                Check::Direction,
            ),
            (
                "Is Java faster than Go?",
                "Is Go faster than Java?",
                Check::Direction,
            ),
        ] {
            assert_eq!(check(a, b), Err(failed), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn content_words_align_through_typos_stems_and_compounds() {
        let (a, b) = (
            analyse("How do I reinstall the databse?"),
            analyse("reinstalling the database"),
        );
        assert_eq!(unmatched(&a, &b), (vec![], vec![]));
        let (a, b) = (analyse("boil an egg"), analyse("boil rice"));
        let (left_a, left_b) = unmatched(&a, &b);
        assert_eq!(left_a[0].norm, "egg");
        assert_eq!(left_b[0].norm, "rice");
    }

    #[test]
    fn number_words_are_numbers() {
        let numbers = |text: &str| analyse(text).numbers.into_keys().collect::<Vec<_>>();
        assert_eq!(numbers("three hundred apples"), ["300"]);
        assert_eq!(numbers("twenty five, then 1,000"), ["1000", "25"]);
        assert_eq!(numbers("drei Tipps"), ["3"]);
        assert_eq!(numbers("version 3.10 or 007"), ["3.10", "7"]);
        assert_eq!(numbers("the third planet"), ["#3"]);
    }

    #[test]
    fn the_shipped_weights_fit_the_features() {
        let scorer = Scorer::shipped();
        assert_eq!(scorer.features, FEATURES);
        assert_eq!(scorer.weights.len(), FEATURES.len());
        assert!((0.0..1.0).contains(&scorer.confidence));
    }
}
