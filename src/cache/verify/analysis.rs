//! A prompt read for verification: its content words (folded, stemmed, with
//! their roles and whether they look like names) and its closed-class
//! structure (numbers, negation, interrogatives, quantifiers).

use super::*;

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
    /// Its WordNet senses (`synonyms.rs`), none for a name.
    pub senses: Vec<u32>,
    /// Where the prompt wrote it, when the word is a whole token there (not
    /// a part of a contraction or of a hyphenated compound).
    pub span: Option<std::ops::Range<usize>>,
    /// Which clause of the prompt it is in (clauses end at , ; : . ! ?).
    pub clause: usize,
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
    /// Quantifiers, each with its clause.
    pub quantifiers: Vec<(&'static str, usize)>,
    /// Every token, normalized, for prefix and compound checks.
    pub(super) tokens: Vec<String>,
    pub(super) german: bool,
}

pub(super) struct Classes {
    pub(super) numbers: HashMap<String, u32>,
    pub(super) ordinals: HashMap<String, u32>,
    pub(super) negators: HashSet<String>,
    pub(super) roles: HashMap<String, &'static str>,
    pub(super) spanish_roles: HashMap<String, &'static str>,
    pub(super) spanish: HashSet<String>,
    pub(super) interrogatives: HashMap<String, &'static str>,
    pub(super) coordinators: HashSet<String>,
    pub(super) quantifiers: HashMap<String, &'static str>,
    pub(super) function: HashSet<String>,
    pub(super) framing: HashSet<String>,
    pub(super) token: Regex,
}

pub(super) static CLASSES: LazyLock<Classes> = LazyLock::new(|| {
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
pub(super) fn expand(token: &str) -> Vec<String> {
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
pub(super) fn hyphen_parts(token: &str) -> Vec<String> {
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
    let mut clause = 0usize;
    let mut previous_end = 0usize;
    for found in classes.token.find_iter(text) {
        let raw = found.as_str();
        if text[previous_end..found.start()].contains([',', ';', ':', '.', '!', '?']) {
            clause += 1;
        }
        previous_end = found.end();
        let sentence_initial = {
            let before = text[..found.start()].trim_end();
            before.is_empty() || before.ends_with(['.', '!', '?', ':', '"', '“', '¿', '¡', '\n'])
        };
        let pieces: Vec<String> = expand(raw).iter().flat_map(|p| hyphen_parts(p)).collect();
        let span = (pieces.len() == 1 && pieces[0] == raw).then(|| found.range());
        for piece in pieces {
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
                    push_content(&mut out, rest, true, (position, clause), role.take(), None);
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
                out.quantifiers.push((quantity, clause));
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
            push_content(
                &mut out,
                &word,
                name_like,
                (position, clause),
                role.take(),
                span.clone(),
            );
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
    pub(super) fn add_number(&mut self, number: String) {
        *self.numbers.entry(number.clone()).or_default() += 1;
        self.number_order.push(number);
    }

    /// The tokens strictly between two positions.
    pub(super) fn between(&self, from: usize, to: usize) -> &[String] {
        let (low, high) = (from.min(to), from.max(to));
        self.tokens
            .get(low..high.saturating_sub(1))
            .unwrap_or_default()
    }

    /// Whether two words are joined by a coordinator and nothing but
    /// function words ("rent or buy", "a Deployment and a StatefulSet").
    pub(super) fn coordinated(&self, from: usize, to: usize) -> bool {
        let classes = &*CLASSES;
        let between = self.between(from, to);
        between.iter().any(|t| classes.coordinators.contains(t))
            && between
                .iter()
                .all(|t| classes.coordinators.contains(t) || classes.function.contains(t))
    }

    /// Its content words that `other` has too.
    pub(super) fn shared_words<'a>(
        &'a self,
        other: &'a Analysis,
    ) -> impl Iterator<Item = &'a Word> {
        self.content
            .iter()
            .filter(|w| other.content.iter().any(|o| same_word(w, o)))
    }

    /// Positions of the first and last content word shared with `other`.
    pub(super) fn shared_span(&self, other: &Analysis) -> Option<(usize, usize)> {
        let shared: Vec<usize> = self.shared_words(other).map(|w| w.position).collect();
        Some((*shared.iter().min()?, *shared.iter().max()?))
    }
}

pub(super) fn push_content(
    out: &mut Analysis,
    word: &str,
    name_like: bool,
    (position, clause): (usize, usize),
    role: Option<&'static str>,
    span: Option<std::ops::Range<usize>>,
) {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    if word.is_empty() {
        return;
    }
    out.content.push(Word {
        norm: word.to_owned(),
        stem: stem(word),
        senses: if name_like { Vec::new() } else { senses(word) },
        name_like,
        position,
        role,
        span,
        clause,
    });
}

/// All caps, mixed case (`iPhone`), letters with digits (`gpt-4o`), or
/// capitalized inside a sentence.
pub(super) fn looks_like_name(raw: &str, sentence_initial: bool) -> bool {
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
