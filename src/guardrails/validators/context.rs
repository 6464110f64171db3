//! The words around a match: spans before and after it on character
//! boundaries, word classes, column headers, and the signs of an example
//! (textbook digits, date-like numbers).

pub(in crate::guardrails) fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

pub(in crate::guardrails) fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Up to `bytes` of `text` before `start`, across lines.
pub(in crate::guardrails) fn span_before(text: &str, start: usize, bytes: usize) -> &str {
    &text[ceil_boundary(text, start.saturating_sub(bytes))..start]
}

/// Up to `bytes` of `text` after `end`, across lines.
pub(in crate::guardrails) fn span_after(text: &str, end: usize, bytes: usize) -> &str {
    &text[end..floor_boundary(text, (end + bytes).min(text.len()))]
}

/// Up to `bytes` of `text` before `start`, on the same line.
pub(in crate::guardrails) fn before(text: &str, start: usize, bytes: usize) -> &str {
    let span = span_before(text, start, bytes);
    span.rfind('\n').map_or(span, |i| &span[i + 1..])
}

/// Up to `bytes` of `text` after `end`, on the same line.
pub(in crate::guardrails) fn after(text: &str, end: usize, bytes: usize) -> &str {
    let span = span_after(text, end, bytes);
    span.find('\n').map_or(span, |i| &span[..i])
}

/// `text` lower-cased as words of letters and digits, one space between
/// them and one at each end: what [`holds`] searches.
pub(in crate::guardrails) fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// Whether `words` (from [`words`]) holds one of `class`: a word or phrase
/// on word boundaries, or, ending in `*`, any word that starts so (a
/// Chinese, Japanese or Korean entry anywhere). The class is searched in one
/// pass, by an automaton of all its entries built at its first use.
pub(in crate::guardrails) fn holds(words: &str, class: &'static [&'static str]) -> bool {
    let class = compiled(class);
    class.automaton.find_overlapping_iter(words).any(|found| {
        let entry = found.pattern().as_usize();
        class.anywhere[entry]
            || (words[..found.start()].ends_with(' ')
                && (class.stem[entry] || words[found.end()..].starts_with(' ')))
    })
}

/// A word class as one automaton, with what each entry asks of its match.
struct CompiledClass {
    automaton: aho_corasick::AhoCorasick,
    /// The entry ends in `*`: any word that starts so.
    stem: Vec<bool>,
    /// Chinese, Japanese and Korean write words without spaces: anywhere.
    anywhere: Vec<bool>,
}

impl CompiledClass {
    fn new(class: &[&str]) -> Self {
        let needles: Vec<(&str, bool)> = class
            .iter()
            .map(|entry| match entry.strip_suffix('*') {
                Some(stem) => (stem, true),
                None => (*entry, false),
            })
            .collect();
        let automaton = aho_corasick::AhoCorasick::new(needles.iter().map(|(needle, _)| needle))
            .unwrap_or_else(|error| unreachable!("a word class compiles: {error}"));
        Self {
            automaton,
            stem: needles.iter().map(|(_, stem)| *stem).collect(),
            anywhere: needles
                .iter()
                .map(|(needle, _)| needle.chars().next().is_some_and(|c| c as u32 >= 0x1100))
                .collect(),
        }
    }
}

/// The compiled classes, by the address and length of their lists. Every
/// list is `'static` (a constant, or built once), so an address never
/// moves and never comes to name another list.
type Classes = std::collections::HashMap<(usize, usize), std::sync::Arc<CompiledClass>>;
static CLASSES: std::sync::LazyLock<parking_lot::RwLock<Classes>> =
    std::sync::LazyLock::new(Default::default);

fn compiled(class: &'static [&'static str]) -> std::sync::Arc<CompiledClass> {
    let key = (class.as_ptr() as usize, class.len());
    if let Some(found) = CLASSES.read().get(&key) {
        return found.clone();
    }
    let built = std::sync::Arc::new(CompiledClass::new(class));
    CLASSES.write().entry(key).or_insert(built).clone()
}

/// The column header of a value in a delimited row (CSV, TSV, a Markdown
/// table): the field at the same position in the nearest line above with
/// as many delimiters and no digits. `employee,tfn\nLiam,882791100` gives
/// `tfn`.
pub(in crate::guardrails) fn column_header(text: &str, start: usize) -> Option<&str> {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    let delimiter = [',', ';', '\t', '|']
        .into_iter()
        .max_by_key(|d| line.matches(*d).count())?;
    let count = line.matches(delimiter).count();
    if count == 0 || line_start == 0 {
        return None;
    }
    let index = text[line_start..start].matches(delimiter).count();
    text[..line_start - 1]
        .lines()
        .rev()
        .take(50)
        .find(|l| l.matches(delimiter).count() == count && !l.bytes().any(|b| b.is_ascii_digit()))
        .and_then(|header| header.split(delimiter).nth(index))
}

/// Words that present a value as an example, a placeholder or a test value.
pub(in crate::guardrails) const EXAMPLE: &[&str] = &[
    "example*",
    "e g",
    "eg",
    "sample*",
    "specimen*",
    "placeholder*",
    "dummy",
    "fake",
    "fictitious",
    "fictional",
    "made up",
    "test number*",
    "test card*",
    "testnummer*",
    "beispiel*",
    "platzhalter*",
    "fiktiv*",
    "muster*",
    "exemple*",
    "fictif*",
    "fictive*",
    "factice*",
    "ejemplo*",
    "ficticio*",
    "ficticia*",
    "esempio*",
    "fittizi*",
    "exemplo*",
    "fictício*",
    "fictícia*",
    "voorbeeld*",
    "fictie*",
    "fictief*",
    "przykład*",
    "exempel*",
    "eksempel*",
    "пример*",
];

/// Whether the words around a match present it as an example.
pub(in crate::guardrails) fn shown_as_example(text: &str, start: usize, end: usize) -> bool {
    let around = format!("{} {}", before(text, start, 80), after(text, end, 48));
    holds(&words(&around), EXAMPLE)
}

/// A textbook number: one digit repeated, or six or more digits counting up
/// or down (`123456789`, `987654`).
pub(in crate::guardrails) fn textbook_digits(text: &str) -> bool {
    let d: Vec<u8> = text.bytes().filter(u8::is_ascii_digit).collect();
    if d.len() < 6 {
        return false;
    }
    let repeated = d.iter().all(|x| *x == d[0]);
    let run = d
        .windows(6)
        .any(|w| w.windows(2).all(|p| p[1] == p[0] + 1) || w.windows(2).all(|p| p[0] == p[1] + 1));
    repeated || run
}

/// A date as written: three groups of digits split by `.`, `/` or `-`,
/// day or month first with the year last, or the year first.
pub(in crate::guardrails) fn is_date_like(found: &str) -> bool {
    let parts: Vec<&str> = found.split(['.', '/', '-']).collect();
    if parts.len() != 3
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let n: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    match lens.as_slice() {
        [4, 1..=2, 1..=2] => (1..=12).contains(&n[1]) && (1..=31).contains(&n[2]),
        [1..=2, 1..=2, 2 | 4] => {
            ((1..=31).contains(&n[0]) && (1..=12).contains(&n[1]))
                || ((1..=12).contains(&n[0]) && (1..=31).contains(&n[1]))
        }
        _ => false,
    }
}
