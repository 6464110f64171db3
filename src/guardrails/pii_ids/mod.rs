//! National identity and passport numbers: each country's checksum or
//! structure, and when a match counts.
//!
//! A format whose shape is distinctive (a codice fiscale, a CPF written
//! `123.456.789-09`, a French NIR, a Swiss AHV number) counts on its own. A
//! bare run of digits that only passes a one-in-ten or one-in-eleven check
//! (PESEL, BSN, SIN, Aadhaar) counts only next to a word that names that
//! number, or a generic one ("national ID", "Personalausweis", "cédula").
//! A number shown as an example ("e.g.", "Beispiel", "ejemplo",
//! "testnummer") or a textbook sequence (`123456789`) never counts.

use super::validators::{
    after, before, column_header, holds, is_date_like, luhn_digits as luhn, shown_as_example,
    textbook_digits, valid_date, words,
};

mod checks;
#[cfg(test)]
mod tests;

use checks::*;

/// One country's number.
struct Format {
    /// The check, on the number's letters and digits (upper-cased) and the
    /// match as written (for separators).
    valid: fn(&str, &str) -> bool,
    /// Whether the match, as written, is distinctive enough to count with
    /// no keyword nearby.
    alone: fn(&str) -> bool,
    /// Words that name the number (see [`holds`]: a trailing `*` is a stem).
    keywords: &'static [&'static str],
}

fn never(_: &str) -> bool {
    false
}

fn always(_: &str) -> bool {
    true
}

/// Words that name an identity number without saying which.
const GENERIC: &[&str] = &[
    "national id*",
    "national identity",
    "national identification",
    "national insurance",
    "identity number",
    "identity card",
    "identification number",
    "id number",
    "id no",
    "id nr",
    "id card",
    "personal number",
    "personal id*",
    "personal code",
    "citizen id",
    "numéro d identité",
    "carte d identité",
    "número de identidad",
    "número de identificación",
    "numero de identidad",
    "documento de identidad",
    "documento nacional",
    "carta d identità",
    "numero di identità",
    "personalausweis*",
    "ausweisnummer",
    "identiteitsnummer",
    "identiteitskaart",
    "cédula*",
    "cedula*",
    "dowód*",
    "numer dowodu",
    "carteira de identidade",
    "identidade",
    "身份证*",
    "tax id",
    "taxpayer id*",
    "tin",
];

/// Every format, tried in turn.
const FORMATS: &[Format] = &[
    Format {
        valid: codice_fiscale,
        alone: always,
        keywords: &["codice fiscale", "cf", "c f"],
    },
    Format {
        valid: dni,
        alone: always,
        keywords: &["dni", "nie", "nif", "tie", "d n i"],
    },
    Format {
        valid: nir,
        alone: always,
        keywords: &[
            "nir",
            "insee",
            "sécurité sociale",
            "securite sociale",
            "sécu",
            "secu",
            "carte vitale",
        ],
    },
    Format {
        valid: ahv,
        alone: always,
        keywords: &["ahv*", "avs", "sozialversicherungsnummer"],
    },
    Format {
        valid: cpf,
        alone: |found| found.contains('.') && found.contains('-'),
        keywords: &["cpf"],
    },
    Format {
        valid: belgian,
        alone: |found| found.matches('.').count() == 2 && found.contains('-'),
        keywords: &[
            "registre national",
            "numéro national",
            "rijksregister*",
            "national number",
            "niss",
            "insz",
        ],
    },
    Format {
        valid: pesel,
        alone: never,
        keywords: &["pesel"],
    },
    Format {
        valid: bsn,
        alone: never,
        keywords: &["bsn", "burgerservicenummer", "sofinummer", "sofi"],
    },
    Format {
        valid: personnummer,
        alone: never,
        keywords: &["personnummer*", "personnr", "samordningsnummer"],
    },
    Format {
        valid: nif_pt,
        alone: never,
        keywords: &["nif", "contribuinte"],
    },
    Format {
        valid: aadhaar,
        alone: never,
        keywords: &["aadhaar", "aadhar", "uidai", "uid", "आधार"],
    },
    Format {
        valid: pan,
        alone: never,
        keywords: &["pan", "permanent account number", "income tax"],
    },
    Format {
        valid: sin,
        alone: never,
        keywords: &["sin", "social insurance*", "nas", "assurance sociale"],
    },
    Format {
        valid: pps,
        alone: never,
        keywords: &["pps", "ppsn", "personal public service"],
    },
    Format {
        valid: steuer_id,
        alone: never,
        keywords: &[
            "steuer id",
            "steuerid",
            "steuer identifikationsnummer",
            "steueridentifikationsnummer",
            "identifikationsnummer",
            "idnr",
        ],
    },
    Format {
        valid: nino,
        alone: |found| found.split(' ').count() == 5,
        keywords: &["national insurance", "ni number", "ni no", "nino", "nin"],
    },
    Format {
        valid: nhs,
        alone: never,
        keywords: &["nhs", "chi"],
    },
    Format {
        valid: tfn,
        alone: never,
        keywords: &["tfn", "tax file*"],
    },
    Format {
        valid: china,
        alone: always,
        keywords: &["身份证*", "resident identity"],
    },
    Format {
        valid: my_number,
        alone: never,
        keywords: &["my number", "mynumber", "マイナンバー*", "個人番号*"],
    },
    Format {
        valid: hetu,
        alone: always,
        keywords: &["henkilötunnus", "hetu", "personbeteckning"],
    },
    Format {
        valid: norway,
        alone: never,
        keywords: &["fødselsnummer", "fodselsnummer", "personnummer", "fnr"],
    },
    Format {
        valid: denmark,
        alone: never,
        keywords: &["cpr*", "personnummer"],
    },
    Format {
        valid: turkey,
        alone: never,
        keywords: &["kimlik*", "tckn", "tc no"],
    },
    Format {
        valid: romania,
        alone: never,
        keywords: &["cnp", "cod numeric personal"],
    },
    Format {
        valid: south_africa,
        alone: never,
        keywords: &["south african id", "sa id"],
    },
    Format {
        valid: korea,
        alone: never,
        keywords: &["주민등록번호", "rrn", "resident registration"],
    },
    Format {
        valid: chile,
        alone: |found| found.contains('.') && found.contains('-'),
        keywords: &["rut", "run"],
    },
    Format {
        valid: curp,
        alone: always,
        keywords: &["curp"],
    },
    Format {
        valid: czech,
        alone: never,
        keywords: &["rodné číslo", "rodne cislo", "rč", "rodného čísla"],
    },
    Format {
        valid: singapore,
        alone: always,
        keywords: &["nric", "fin"],
    },
    Format {
        valid: argentina,
        alone: |found| found.matches('-').count() == 2,
        keywords: &["cuil", "cuit"],
    },
    Format {
        valid: estonia,
        alone: never,
        keywords: &["isikukood", "asmens kodas"],
    },
    Format {
        valid: greece,
        alone: never,
        keywords: &["amka", "αμκα"],
    },
    Format {
        valid: austria,
        alone: never,
        keywords: &[
            "sozialversicherungsnummer",
            "svnr",
            "sv nummer",
            "versicherungsnummer",
        ],
    },
    Format {
        valid: bulgaria,
        alone: never,
        keywords: &["egn", "егн"],
    },
    Format {
        valid: croatia,
        alone: never,
        keywords: &["oib"],
    },
    Format {
        valid: snils,
        alone: |found| found.len() == 14 && found.matches('-').count() == 2,
        keywords: &["snils", "снилс"],
    },
    Format {
        valid: inn,
        alone: never,
        keywords: &["inn", "инн"],
    },
    Format {
        valid: israel,
        alone: never,
        keywords: &["teudat zehut", "תעודת זהות", "israeli id"],
    },
];

/// A national identity number at `text[start..end]`: it passes some
/// country's check, and is either distinctive or named nearby; never an
/// example. With a generic word just before it ("ID number", "cédula"), any
/// number of 6–18 characters counts, so formats without a check are caught
/// too.
pub(super) fn national_id(text: &str, start: usize, end: usize) -> bool {
    let found = &text[start..end];
    let compact: String = found
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if textbook_digits(&compact) || glued(text, start, end) {
        return false;
    }
    let passing: Vec<&Format> = FORMATS
        .iter()
        .filter(|f| (f.valid)(&compact, found))
        .collect();
    let near_before = words(before(text, start, 72));
    let generic_close = holds(&words(before(text, start, 32)), GENERIC);
    if passing.is_empty() && !generic_close {
        return false;
    }
    if shown_as_example(text, start, end) {
        return false;
    }
    let near_after = words(after(text, end, 24));
    let header = column_header(text, start).map(words).unwrap_or_default();
    let named = |keywords: &'static [&'static str]| {
        holds(&near_before, keywords) || holds(&near_after, keywords) || holds(&header, keywords)
    };
    if passing
        .iter()
        .any(|f| (f.alone)(found) || named(f.keywords) || named(GENERIC))
    {
        return true;
    }
    let digit_count = compact.bytes().filter(u8::is_ascii_digit).count();
    generic_close && (6..=18).contains(&compact.len()) && digit_count >= 6 && !is_date_like(found)
}

/// Part of a longer token: `-` or `/` joining letters or digits on either side.
fn glued(text: &str, start: usize, end: usize) -> bool {
    let mut back = text[..start].chars().rev();
    let mut ahead = text[end..].chars();
    // ASCII only: in Chinese or Japanese text a number follows letters directly.
    let joined = |first: Option<char>, second: Option<char>| {
        first.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            || (matches!(first, Some('-' | '/' | '.' | '_'))
                && second.is_some_and(|c| c.is_ascii_alphanumeric()))
    };
    joined(back.next(), back.next()) || joined(ahead.next(), ahead.next())
}

/// A passport number after the word for passport, or the second line of a
/// passport's machine-readable zone (check digits verified).
pub(super) fn passport(text: &str, start: usize, end: usize) -> bool {
    let found = &text[start..end];
    if found.len() == 44 {
        return mrz_line(found);
    }
    let digit_count = found.bytes().filter(u8::is_ascii_digit).count();
    (6..=9).contains(&found.len())
        && digit_count >= 3
        && !textbook_digits(found)
        && !is_date_like(found)
        && !shown_as_example(text, start, end)
}

/// ICAO 9303 check digit: weights 7, 3, 1 over digits, letters (A = 10) and `<` (0).
fn icao_check(field: &str) -> Option<u32> {
    let mut sum = 0;
    for (i, c) in field.chars().enumerate() {
        let value = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            '<' => 0,
            _ => return None,
        };
        sum += value * [7, 3, 1][i % 3];
    }
    Some(sum % 10)
}

/// The second line of a passport's MRZ (TD3, 44 characters): the document
/// number's, birth date's, expiry's and the composite check digits.
fn mrz_line(line: &str) -> bool {
    if line.len() != 44 || !line.is_ascii() {
        return false;
    }
    let digit = |i: usize| line[i..=i].parse::<u32>().ok();
    let checks =
        |field: &str, at: usize| icao_check(field).is_some() && icao_check(field) == digit(at);
    let composite = format!("{}{}{}", &line[0..10], &line[13..20], &line[21..43]);
    checks(&line[0..9], 9)
        && checks(&line[13..19], 19)
        && checks(&line[21..27], 27)
        && icao_check(&composite) == digit(43)
}
