//! Dates of birth: a real date in any supported language's month names, born
//! from 1900 to this year, not a death or a founding.

use super::*;

/// Month names (and usual abbreviations) in English, French, German,
/// Spanish, Italian, Portuguese, Dutch, Swedish and Polish (genitive).
pub(in crate::guardrails) const MONTHS: &[&[&str]] = &[
    &[
        "january", "jan", "janvier", "janv", "januar", "jänner", "enero", "ene", "gennaio", "gen",
        "janeiro", "januari", "stycznia", "styczeń",
    ],
    &[
        "february",
        "feb",
        "février",
        "févr",
        "fevrier",
        "februar",
        "febrero",
        "febbraio",
        "fevereiro",
        "fev",
        "februari",
        "lutego",
        "luty",
    ],
    &[
        "march", "mar", "mars", "märz", "marz", "marzo", "março", "marco", "maart", "mrt", "marca",
        "marzec",
    ],
    &[
        "april",
        "apr",
        "avril",
        "abril",
        "abr",
        "aprile",
        "kwietnia",
        "kwiecień",
    ],
    &[
        "may", "mai", "mayo", "maggio", "mag", "maio", "mei", "maj", "maja",
    ],
    &[
        "june", "jun", "juin", "juni", "junio", "giugno", "giu", "junho", "czerwca", "czerwiec",
    ],
    &[
        "july", "jul", "juillet", "juil", "juli", "julio", "luglio", "lug", "julho", "lipca",
        "lipiec",
    ],
    &[
        "august",
        "aug",
        "août",
        "aout",
        "agosto",
        "ago",
        "augustus",
        "augusti",
        "sierpnia",
        "sierpień",
    ],
    &[
        "september",
        "sep",
        "sept",
        "septembre",
        "septiembre",
        "setiembre",
        "settembre",
        "set",
        "setembro",
        "września",
        "wrzesień",
    ],
    &[
        "october",
        "oct",
        "octobre",
        "oktober",
        "okt",
        "octubre",
        "ottobre",
        "ott",
        "outubro",
        "out",
        "października",
        "październik",
    ],
    &[
        "november",
        "nov",
        "novembre",
        "noviembre",
        "novembro",
        "listopada",
        "listopad",
    ],
    &[
        "december",
        "dec",
        "décembre",
        "decembre",
        "dezember",
        "dez",
        "diciembre",
        "dic",
        "dicembre",
        "dezembro",
        "grudnia",
        "grudzień",
    ],
];

pub(in crate::guardrails) fn month_number(word: &str) -> Option<u32> {
    let word = word.trim_end_matches('.').to_lowercase();
    MONTHS
        .iter()
        .position(|names| names.contains(&word.as_str()))
        .map(|i| i as u32 + 1)
}

/// The year now (UTC), for "born no later than this year".
pub(in crate::guardrails) fn this_year() -> u32 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    1970 + (seconds / 31_556_952) as u32
}

/// A calendar date; `year` with its century.
pub(in crate::guardrails) fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// A date written as numbers (`13/05/1988`, `1995-12-18`, `12/31/83`),
/// with a month name (`14 janvier 1970`, `April 23, 2020`, `29. Oktober
/// 2014`, `13 de junho de 1988`) or in CJK (`1988年5月13日`): its year,
/// month and day. A numeric date may be day-first or month-first.
pub(in crate::guardrails) fn parse_date(found: &str) -> Option<(u32, u32, u32)> {
    let cjk: Vec<&str> = found
        .split(['年', '月', '日'])
        .filter(|s| !s.is_empty())
        .collect();
    if found.contains('年') && cjk.len() == 3 {
        let y = cjk[0].trim().parse().ok()?;
        let m = cjk[1].trim().parse().ok()?;
        let d = cjk[2].trim().parse().ok()?;
        return valid_date(y, m, d).then_some((y, m, d));
    }
    let numeric: Vec<&str> = found.split(['.', '/', '-']).collect();
    if numeric.len() == 3
        && numeric
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        let n: Vec<u32> = numeric.iter().filter_map(|p| p.parse().ok()).collect();
        if numeric[0].len() == 4 {
            return valid_date(n[0], n[1], n[2]).then_some((n[0], n[1], n[2]));
        }
        let year = match numeric[2].len() {
            4 => n[2],
            2 if 2000 + n[2] <= this_year() => 2000 + n[2],
            2 => 1900 + n[2],
            _ => return None,
        };
        if valid_date(year, n[1], n[0]) {
            return Some((year, n[1], n[0]));
        }
        return valid_date(year, n[0], n[1]).then_some((year, n[0], n[1]));
    }
    let mut day = None;
    let mut month = None;
    let mut year = None;
    for token in found.split(|c: char| c.is_whitespace() || c == ',') {
        let token = token.trim_end_matches('.');
        let digits: String = token.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() == 4 {
            year = digits.parse().ok();
        } else if !digits.is_empty() {
            day = digits.parse().ok();
        } else if let Some(m) = month_number(token) {
            month = Some(m);
        }
    }
    let (y, m, d) = (year?, month?, day?);
    valid_date(y, m, d).then_some((y, m, d))
}

/// Words for a death nearby: a biography, not a person's date of birth.
pub(in crate::guardrails) const DEATH_WORDS: &[&str] = &[
    "died",
    "death",
    "deceased",
    "passed away",
    "morì",
    "morto",
    "morta",
    "deceduto",
    "overleed",
    "overleden",
    "gestorben",
    "starb",
    "verstorben",
    "mort",
    "morte",
    "décédé*",
    "décès",
    "murió",
    "falleció",
    "fallecido",
    "morreu",
    "faleceu",
    "falecido",
    "zmarł*",
    "död",
    "døde",
    "kuoli",
];

/// Words for an organisation's birth: founded, gegründet, fondée.
pub(in crate::guardrails) const FOUNDING_WORDS: &[&str] = &[
    "founded",
    "established",
    "incorporated",
    "gegründet",
    "gründung",
    "fondé*",
    "fondat*",
    "fundad*",
    "fundou",
    "opgericht",
    "company",
    "firma",
    "unternehmen",
    "empresa",
    "société",
    "azienda",
];

/// A date of birth (the rule's patterns put it beside a word for birth): a
/// real date, a year from 1900 to now, not an example, not in a biography
/// that also gives a death, not a company's founding.
pub(in crate::guardrails) fn birth_date(text: &str, start: usize, end: usize, found: &str) -> bool {
    let Some((year, _, _)) = parse_date(found) else {
        return false;
    };
    let around = format!("{} {}", before(text, start, 120), after(text, end, 120));
    let around_words = words(&around);
    (1900..=this_year()).contains(&year)
        && !around.contains('†')
        && !holds(&around_words, DEATH_WORDS)
        && !holds(&around_words, FOUNDING_WORDS)
        && !shown_as_example(text, start, end)
}
