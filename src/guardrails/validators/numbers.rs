//! Card numbers (Luhn and the issuer's length), IBANs (mod-97 and each
//! country's length) and US Social Security numbers (the number plan).

use super::*;

pub(in crate::guardrails) fn digits(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.chars().filter_map(|c| c.to_digit(10))
}

/// The Luhn checksum over the digits of `text`.
pub fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = digits(text).collect();
    !digits.is_empty() && luhn_digits(&digits)
}

/// The Luhn checksum over `digits` (also used by national ids).
pub(in crate::guardrails) fn luhn_digits(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A payment card: an issuer prefix with one of its lengths, consistent
/// separators, Luhn, and not part of a longer token (`xoxb-…-3712…-…`).
pub(in crate::guardrails) fn card(text: &str, start: usize, end: usize, found: &str) -> bool {
    let number: String = digits(found)
        .map(|d| char::from_digit(d, 10).unwrap_or('0'))
        .collect();
    let separators: Vec<char> = found.chars().filter(|c| !c.is_ascii_digit()).collect();
    if separators.windows(2).any(|w| w[0] != w[1]) || in_token(text, start, end) {
        return false;
    }
    let len = number.len();
    let prefix = |p: &str| number.starts_with(p);
    let two: u32 = number.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let three: u32 = number.get(..3).and_then(|p| p.parse().ok()).unwrap_or(0);
    let four: u32 = number.get(..4).and_then(|p| p.parse().ok()).unwrap_or(0);
    let lengths: &[usize] = if prefix("4") {
        &[13, 16, 19]
    } else if (51..=55).contains(&two) || (2221..=2720).contains(&four) {
        &[16]
    } else if prefix("34") || prefix("37") {
        &[15]
    } else if prefix("6011")
        || prefix("65")
        || (644..=649).contains(&three)
        || (3528..=3589).contains(&four)
        || prefix("62")
    {
        &[16, 17, 18, 19]
    } else if prefix("36") || (300..=305).contains(&three) || prefix("38") || prefix("39") {
        &[14, 15, 16, 17, 18, 19]
    } else {
        &[]
    };
    lengths.contains(&len) && luhn(&number)
}

/// Whether `text[start..end]` is glued into a longer token by `-` or `_`
/// (`xoxb-4859-3712850906469-Ds46`), so it is a piece of an id, not a number
/// of its own.
pub(in crate::guardrails) fn in_token(text: &str, start: usize, end: usize) -> bool {
    let mut back = text[..start].chars().rev();
    let mut ahead = text[end..].chars();
    let joined = |first: Option<char>, second: Option<char>| {
        first.is_some_and(|c| c.is_ascii_alphanumeric())
            || (matches!(first, Some('-' | '_'))
                && second.is_some_and(|c| c.is_ascii_alphanumeric()))
    };
    joined(back.next(), back.next()) || joined(ahead.next(), ahead.next())
}

/// IBAN lengths by country (ISO 13616 registry, the common ones).
pub(in crate::guardrails) const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TR", 26),
    ("UA", 29),
];

/// An IBAN: known country, its length, and the ISO 7064 mod-97 check.
pub fn iban(found: &str) -> bool {
    let compact: String = found.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(country) = compact.get(..2) else {
        return false;
    };
    let Some(&(_, length)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country) else {
        return false;
    };
    if compact.len() != length || !compact.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let rearranged = compact[4..].bytes().chain(compact[..4].bytes());
    let mut remainder: u32 = 0;
    for byte in rearranged {
        let value = match byte {
            b'0'..=b'9' => u32::from(byte - b'0'),
            b'A'..=b'Z' => u32::from(byte - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// A US SSN: never area 000, 666 or 9xx, group 00 or serial 0000, nor a
/// number printed in ads and textbooks (`078-05-1120`, `123-45-6789`).
pub(in crate::guardrails) fn ssn(found: &str) -> bool {
    let number: String = found.chars().filter(char::is_ascii_digit).collect();
    if number.len() != 9 || textbook_digits(&number) || number == "078051120" {
        return false;
    }
    let area: u32 = number[..3].parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && &number[3..5] != "00" && &number[5..] != "0000"
}
