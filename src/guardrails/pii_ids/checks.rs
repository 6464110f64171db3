//! The checks behind each national number: digit helpers, the checksums
//! (mod 11, mod 11-10, weighted sums) and one function per country's format.

use super::*;

/// The digits of `s` when it is nothing but `len` digits.
pub(super) fn digits_exact(s: &str, len: usize) -> Option<Vec<u32>> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().map(|b| u32::from(b - b'0')).collect())
}

pub(super) fn number(digits: &[u32]) -> u64 {
    digits.iter().fold(0, |n, d| n * 10 + u64::from(*d))
}

pub(super) fn weighted(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| d * w).sum()
}

/// ISO 7064 MOD 11,10 over all but the last digit, compared with the last.
pub(super) fn mod_11_10(digits: &[u32]) -> bool {
    let Some((&check, body)) = digits.split_last() else {
        return false;
    };
    let mut product = 10;
    for d in body {
        let mut sum = (d + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    (11 - product) % 10 == check
}

pub(super) fn two(d: &[u32], at: usize) -> u32 {
    d[at] * 10 + d[at + 1]
}

/// A `yymmdd` date in any century.
pub(super) fn yymmdd(d: &[u32], at: usize) -> bool {
    valid_date(2000 + two(d, at), two(d, at + 2), two(d, at + 4))
        || valid_date(1900 + two(d, at), two(d, at + 2), two(d, at + 4))
}

/// A `ddmmyy` date in any century.
pub(super) fn ddmmyy(d: &[u32], at: usize) -> bool {
    valid_date(2000 + two(d, at + 4), two(d, at + 2), two(d, at))
        || valid_date(1900 + two(d, at + 4), two(d, at + 2), two(d, at))
}

// ---- formats, one check per country ----

/// Italy: codice fiscale, 16 characters, check letter from the odd and even
/// tables; digits may be replaced by letters (omocodia).
pub(super) fn codice_fiscale(c: &str, _: &str) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    const OMOCODIA: &str = "LMNPQRSTUV";
    let b = c.as_bytes();
    if b.len() != 16 {
        return false;
    }
    let digitlike = |x: u8| x.is_ascii_digit() || OMOCODIA.as_bytes().contains(&x);
    let shape = b[..6].iter().all(u8::is_ascii_uppercase)
        && [6, 7, 9, 10, 12, 13, 14].iter().all(|&i| digitlike(b[i]))
        && b"ABCDEHLMPRST".contains(&b[8])
        && b[11].is_ascii_uppercase()
        && b[15].is_ascii_uppercase();
    if !shape {
        return false;
    }
    let as_digit = |x: u8| -> u32 {
        if x.is_ascii_digit() {
            u32::from(x - b'0')
        } else {
            OMOCODIA.bytes().position(|o| o == x).unwrap_or(0) as u32
        }
    };
    let day = as_digit(b[9]) * 10 + as_digit(b[10]);
    if !(1..=31).contains(&day) && !(41..=71).contains(&day) {
        return false;
    }
    let sum: u32 = b[..15]
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let index = if x.is_ascii_digit() {
                usize::from(x - b'0')
            } else {
                usize::from(x - b'A')
            };
            if i % 2 == 0 {
                ODD[index]
            } else if x.is_ascii_digit() {
                u32::from(x - b'0')
            } else {
                u32::from(x - b'A')
            }
        })
        .sum();
    u32::from(b[15] - b'A') == sum % 26
}

/// Spain: DNI (8 digits and a letter) or NIE (X, Y or Z, 7 digits, a letter), mod 23.
pub(super) fn dni(c: &str, _: &str) -> bool {
    const LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let b = c.as_bytes();
    if b.len() != 9 || !b[8].is_ascii_uppercase() {
        return false;
    }
    let lead = match b[0] {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        x if x.is_ascii_digit() => u64::from(x - b'0'),
        _ => return false,
    };
    let Some(rest) = digits_exact(&c[1..8], 7) else {
        return false;
    };
    let n = lead * 10_000_000 + number(&rest);
    LETTERS[(n % 23) as usize] == b[8]
}

/// France: NIR, 15 characters: sex, year, month, department (Corsica 2A/2B),
/// commune, order, and a key of 97 minus the number mod 97.
pub(super) fn nir(c: &str, _: &str) -> bool {
    if c.len() != 15 {
        return false;
    }
    let substituted = match &c[5..7] {
        "2A" => format!("{}19{}", &c[..5], &c[7..]),
        "2B" => format!("{}18{}", &c[..5], &c[7..]),
        _ => c.to_owned(),
    };
    let Some(d) = digits_exact(&substituted, 15) else {
        return false;
    };
    let month = two(&d, 3);
    let month_ok = (1..=12).contains(&month) || (20..=42).contains(&month) || month >= 50;
    let key = 97 - number(&d[..13]) % 97;
    matches!(d[0], 1..=4 | 7 | 8) && month_ok && key == number(&d[13..])
}

/// Switzerland: AHV/AVS, 13 digits from 756, EAN-13 check digit.
pub(super) fn ahv(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 13) else {
        return false;
    };
    let sum: u32 = d[..12]
        .iter()
        .enumerate()
        .map(|(i, x)| if i % 2 == 0 { *x } else { x * 3 })
        .sum();
    c.starts_with("756") && (10 - sum % 10) % 10 == d[12]
}

/// Brazil: CPF, 11 digits, two mod-11 check digits; not one digit repeated.
pub(super) fn cpf(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 11) else {
        return false;
    };
    let check = |len: usize| {
        let sum: u32 = (0..len).map(|i| d[i] * (len as u32 + 1 - i as u32)).sum();
        (sum * 10 % 11) % 10
    };
    d.iter().any(|x| *x != d[0]) && check(9) == d[9] && check(10) == d[10]
}

/// Belgium: national number, `yymmdd` (month and day may be 0), a serial,
/// and 97 minus the first nine digits mod 97 (with a 2 in front from 2000).
pub(super) fn belgian(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 11) else {
        return false;
    };
    let month = two(&d, 2) % 20;
    if month > 12 || two(&d, 4) > 31 {
        return false;
    }
    let body = number(&d[..9]);
    let check = number(&d[9..]);
    97 - body % 97 == check || 97 - (2_000_000_000 + body) % 97 == check
}

/// Poland: PESEL, `yymmdd` with the century in the month, weights 1-3-7-9.
pub(super) fn pesel(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 11) else {
        return false;
    };
    let month = two(&d, 2);
    let (century, month) = match month {
        1..=12 => (1900, month),
        21..=32 => (2000, month - 20),
        41..=52 => (2100, month - 40),
        61..=72 => (2200, month - 60),
        81..=92 => (1800, month - 80),
        _ => return false,
    };
    let sum = weighted(&d[..10], &[1, 3, 7, 9, 1, 3, 7, 9, 1, 3]);
    valid_date(century + two(&d, 0), month, two(&d, 4)) && (10 - sum % 10) % 10 == d[10]
}

/// The Netherlands: BSN, 9 digits, the eleven test (last digit weighted −1).
pub(super) fn bsn(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 9) else {
        return false;
    };
    let sum = weighted(&d[..8], &[9, 8, 7, 6, 5, 4, 3, 2]);
    d[0] != 0 && (sum + 11 * 10 - d[8]).is_multiple_of(11)
}

/// Sweden: personnummer, `(yy)yymmdd-nnnc`, Luhn over the last ten digits;
/// coordination numbers add 60 to the day.
pub(super) fn personnummer(c: &str, found: &str) -> bool {
    let d: Vec<u32> = match c.len() {
        10 => digits_exact(c, 10),
        12 if c.starts_with("19") || c.starts_with("20") || c.starts_with("18") => {
            digits_exact(&c[2..], 10)
        }
        _ => None,
    }
    .unwrap_or_default();
    if d.len() != 10 || found.contains('.') || found.contains('/') {
        return false;
    }
    let day = two(&d, 4);
    let day = if day > 60 { day - 60 } else { day };
    let dated = valid_date(2000 + two(&d, 0), two(&d, 2), day)
        || valid_date(1900 + two(&d, 0), two(&d, 2), day);
    dated && luhn(&d)
}

/// Portugal: NIF, 9 digits, mod 11.
pub(super) fn nif_pt(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 9) else {
        return false;
    };
    let r = weighted(&d[..8], &[9, 8, 7, 6, 5, 4, 3, 2]) % 11;
    let check = if r < 2 { 0 } else { 11 - r };
    matches!(d[0], 1 | 2 | 3 | 5 | 6 | 8 | 9) && check == d[8]
}

/// India: Aadhaar, 12 digits not starting 0 or 1, Verhoeff.
pub(super) fn aadhaar(c: &str, _: &str) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let Some(d) = digits_exact(c, 12) else {
        return false;
    };
    let mut check = 0usize;
    for (i, x) in d.iter().rev().enumerate() {
        check = usize::from(D[check][usize::from(P[i % 8][*x as usize])]);
    }
    d[0] >= 2 && check == 0
}

/// India: PAN, 5 letters (the fourth the holder's type), 4 digits, a letter.
pub(super) fn pan(c: &str, _: &str) -> bool {
    let b = c.as_bytes();
    b.len() == 10
        && b[..5].iter().all(u8::is_ascii_uppercase)
        && b"ABCFGHJLPT".contains(&b[3])
        && b[5..9].iter().all(u8::is_ascii_digit)
        && b[9].is_ascii_uppercase()
}

/// Canada: SIN, 9 digits, Luhn; 0 and 8 are not issued as first digits.
pub(super) fn sin(c: &str, _: &str) -> bool {
    digits_exact(c, 9).is_some_and(|d| !matches!(d[0], 0 | 8) && luhn(&d))
}

/// Ireland: PPS number, 7 digits weighted 8..2, an optional second letter
/// weighted 9, mod 23 gives the check letter (0 = W).
pub(super) fn pps(c: &str, _: &str) -> bool {
    let b = c.as_bytes();
    if !(8..=9).contains(&b.len()) {
        return false;
    }
    let Some(d) = digits_exact(&c[..7], 7) else {
        return false;
    };
    let second = match b.get(8) {
        None | Some(b'W') => 0,
        Some(x @ b'A'..=b'I') => u32::from(x - b'A') + 1,
        Some(_) => return false,
    };
    let r = (weighted(&d, &[8, 7, 6, 5, 4, 3, 2]) + second * 9) % 23;
    let letter = if r == 0 { b'W' } else { b'A' + r as u8 - 1 };
    b[7] == letter
}

/// Germany: steuerliche Identifikationsnummer, 11 digits, no leading 0;
/// in the first ten one digit appears two or three times (not three in a
/// row) and every other at most once; ISO 7064 MOD 11,10.
pub(super) fn steuer_id(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 11) else {
        return false;
    };
    let mut counts = [0u8; 10];
    for x in &d[..10] {
        counts[*x as usize] += 1;
    }
    let repeated: Vec<usize> = (0..10).filter(|&i| counts[i] > 1).collect();
    let shape = match repeated.as_slice() {
        [digit] if counts[*digit] == 2 => true,
        [digit] if counts[*digit] == 3 => !d[..10]
            .windows(3)
            .any(|w| w.iter().all(|x| *x as usize == *digit)),
        _ => false,
    };
    d[0] != 0 && shape && mod_11_10(&d)
}

/// UK: National Insurance number, two prefix letters (D, F, I, Q, U, V
/// never; O never second; BG, GB, NK, KN, TN, NT, ZZ never), six digits,
/// a suffix A–D.
pub(super) fn nino(c: &str, _: &str) -> bool {
    let b = c.as_bytes();
    if b.len() != 9 || !b[2..8].iter().all(u8::is_ascii_digit) || !b"ABCD".contains(&b[8]) {
        return false;
    }
    let (first, second) = (b[0], b[1]);
    first.is_ascii_uppercase()
        && second.is_ascii_uppercase()
        && !b"DFIQUV".contains(&first)
        && !b"DFIOQUV".contains(&second)
        && !["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"].contains(&&c[..2])
}

/// UK: NHS number, 10 digits, weights 10..2, 11 minus the sum mod 11 (10 never).
pub(super) fn nhs(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 10) else {
        return false;
    };
    let r = 11 - weighted(&d[..9], &[10, 9, 8, 7, 6, 5, 4, 3, 2]) % 11;
    let check = if r == 11 { 0 } else { r };
    check != 10 && check == d[9]
}

/// Australia: tax file number, 9 (or older 8) digits, weighted sum mod 11 = 0.
pub(super) fn tfn(c: &str, _: &str) -> bool {
    if let Some(d) = digits_exact(c, 9) {
        return weighted(&d, &[1, 4, 3, 7, 5, 8, 6, 9, 10]).is_multiple_of(11);
    }
    digits_exact(c, 8).is_some_and(|d| weighted(&d, &[10, 7, 8, 4, 6, 3, 5, 1]).is_multiple_of(11))
}

/// China: resident identity card, 17 digits (region, `yyyymmdd`, order)
/// and an ISO 7064 MOD 11-2 check (X for 10).
pub(super) fn china(c: &str, _: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let b = c.as_bytes();
    let Some(d) = digits_exact(&c[..c.len().min(17)], 17) else {
        return false;
    };
    if b.len() != 18 {
        return false;
    }
    let year = number(&d[6..10]) as u32;
    let check = b"10X98765432"[(weighted(&d, &WEIGHTS) % 11) as usize];
    (1..=8).contains(&d[0])
        && (1900..=2100).contains(&year)
        && valid_date(year, two(&d, 10), two(&d, 12))
        && b[17] == check
}

/// Japan: My Number, 12 digits, mod 11 check.
pub(super) fn my_number(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 12) else {
        return false;
    };
    let sum: u32 = (1..=11u32)
        .map(|n| d[11 - n as usize] * if n <= 6 { n + 1 } else { n - 5 })
        .sum();
    let r = sum % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    check == d[11]
}

/// Finland: henkilötunnus `ddmmyyCnnnX`, the century sign (+, -, A–F, U–Y),
/// the check character from the nine digits mod 31.
pub(super) fn hetu(_: &str, found: &str) -> bool {
    const CHECK: &[u8] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let b = found.as_bytes();
    if b.len() != 11 || !b"+-ABCDEFUVWXY".contains(&b[6]) {
        return false;
    }
    let body = format!("{}{}", &found[..6], &found[7..10]);
    let Some(d) = digits_exact(&body, 9) else {
        return false;
    };
    let century = match b[6] {
        b'+' => 1800,
        b'A'..=b'F' => 2000,
        _ => 1900,
    };
    valid_date(century + two(&d, 4), two(&d, 2), two(&d, 0))
        && CHECK[(number(&d) % 31) as usize] == b[10]
}

/// Norway: fødselsnummer, `ddmmyy` (D-numbers add 40 to the day) and two
/// mod-11 check digits.
pub(super) fn norway(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 11) else {
        return false;
    };
    let check = |digits: &[u32], weights: &[u32]| {
        let r = 11 - weighted(digits, weights) % 11;
        if r == 11 { 0 } else { r }
    };
    let mut dated = d.clone();
    if dated[0] >= 4 {
        dated[0] -= 4;
    }
    ddmmyy(&dated, 0)
        && check(&d[..9], &[3, 7, 6, 1, 8, 9, 4, 5, 2]) == d[9]
        && check(&d[..10], &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]) == d[10]
}

/// Denmark: CPR number, `ddmmyy-nnnn` (no check digit since 2007).
pub(super) fn denmark(c: &str, found: &str) -> bool {
    digits_exact(c, 10).is_some_and(|d| ddmmyy(&d, 0)) && !found.contains('.')
}

/// Turkey: T.C. kimlik numarası, 11 digits, no leading 0, two checks.
pub(super) fn turkey(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 11) else {
        return false;
    };
    let odd = i64::from(d[0] + d[2] + d[4] + d[6] + d[8]);
    let even = i64::from(d[1] + d[3] + d[5] + d[7]);
    let tenth = (odd * 7 - even).rem_euclid(10) as u32;
    let eleventh = d[..10].iter().sum::<u32>() % 10;
    d[0] != 0 && tenth == d[9] && eleventh == d[10]
}

/// Romania: CNP, sex/century, `yymmdd`, county, serial, weights 279146358279.
pub(super) fn romania(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 13) else {
        return false;
    };
    let r = weighted(&d[..12], &[2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9]) % 11;
    let check = if r == 10 { 1 } else { r };
    (1..=8).contains(&d[0]) && yymmdd(&d, 1) && check == d[12]
}

/// South Africa: ID number, `yymmdd`, serial, citizenship 0–2, Luhn.
pub(super) fn south_africa(c: &str, _: &str) -> bool {
    digits_exact(c, 13).is_some_and(|d| yymmdd(&d, 0) && d[10] <= 2 && luhn(&d))
}

/// South Korea: resident registration number `yymmdd-snnnnnc`.
pub(super) fn korea(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 13) else {
        return false;
    };
    let r = weighted(&d[..12], &[2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]) % 11;
    yymmdd(&d, 0) && (1..=8).contains(&d[6]) && (11 - r) % 10 == d[12]
}

/// Chile: RUT/RUN, mod 11 over weights 2–7 from the right (10 is K).
pub(super) fn chile(c: &str, found: &str) -> bool {
    if !found.contains('-') || !(8..=9).contains(&c.len()) {
        return false;
    }
    let (body, check) = c.split_at(c.len() - 1);
    let Some(d) = digits_exact(body, body.len()) else {
        return false;
    };
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, x)| x * (2 + (i as u32 % 6)))
        .sum();
    let expected = match 11 - sum % 11 {
        11 => '0',
        10 => 'K',
        r => char::from_digit(r, 10).unwrap_or('?'),
    };
    check.starts_with(expected)
}

/// Mexico: CURP, 18 characters, a check digit over the first 17.
pub(super) fn curp(c: &str, _: &str) -> bool {
    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ";
    let b = c.as_bytes();
    if b.len() != 18
        || !b[..4].iter().all(u8::is_ascii_uppercase)
        || !b[4..10].iter().all(u8::is_ascii_digit)
        || !b"HMX".contains(&b[10])
        || !b[11..16].iter().all(u8::is_ascii_uppercase)
        || !b[17].is_ascii_digit()
    {
        return false;
    }
    let Some(d) = digits_exact(&c[4..10], 6) else {
        return false;
    };
    let sum: u32 = c[..17]
        .chars()
        .enumerate()
        .map(|(i, ch)| ALPHABET.chars().position(|a| a == ch).unwrap_or(0) as u32 * (18 - i as u32))
        .sum();
    yymmdd(&d, 0) && (10 - sum % 10) % 10 == u32::from(b[17] - b'0')
}

/// Czech Republic and Slovakia: rodné číslo `yymmdd/nnnc` (women add 50 to
/// the month, some 20), divisible by 11.
pub(super) fn czech(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 10) else {
        return false;
    };
    let month = match two(&d, 2) {
        m @ 1..=12 => m,
        m @ (21..=32 | 51..=62) => m - if m > 50 { 50 } else { 20 },
        m @ 71..=82 => m - 70,
        _ => return false,
    };
    let n = number(&d);
    let divisible = n.is_multiple_of(11) || (number(&d[..9]) % 11 == 10 && d[9] == 0);
    (valid_date(1900 + two(&d, 0), month, two(&d, 4))
        || valid_date(2000 + two(&d, 0), month, two(&d, 4)))
        && divisible
}

/// Singapore: NRIC/FIN, S/T/F/G, 7 digits, a check letter.
pub(super) fn singapore(c: &str, _: &str) -> bool {
    let b = c.as_bytes();
    if b.len() != 9 || !b"STFG".contains(&b[0]) || !b[8].is_ascii_uppercase() {
        return false;
    }
    let Some(d) = digits_exact(&c[1..8], 7) else {
        return false;
    };
    let offset = if matches!(b[0], b'T' | b'G') { 4 } else { 0 };
    let r = ((weighted(&d, &[2, 7, 6, 5, 4, 3, 2]) + offset) % 11) as usize;
    let letters: &[u8] = if matches!(b[0], b'S' | b'T') {
        b"JZIHGFEDCBA"
    } else {
        b"XWUTRQPNMLK"
    };
    letters[r] == b[8]
}

/// Argentina: CUIL/CUIT, type, DNI and a mod-11 check.
pub(super) fn argentina(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 11) else {
        return false;
    };
    let r = 11 - weighted(&d[..10], &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]) % 11;
    let check = if r == 11 { 0 } else { r };
    matches!(two(&d, 0), 20 | 23 | 24 | 27 | 30 | 33 | 34) && check == d[10]
}

/// Estonia and Lithuania: isikukood / asmens kodas, sex and century,
/// `yymmdd`, serial, a two-stage mod-11 check.
pub(super) fn estonia(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 11) else {
        return false;
    };
    let mut r = weighted(&d[..10], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 1]) % 11;
    if r == 10 {
        r = weighted(&d[..10], &[3, 4, 5, 6, 7, 8, 9, 1, 2, 3]) % 11 % 10;
    }
    (1..=6).contains(&d[0]) && yymmdd(&d, 1) && r == d[10]
}

/// Greece: AMKA, `ddmmyy` and Luhn.
pub(super) fn greece(c: &str, _: &str) -> bool {
    digits_exact(c, 11).is_some_and(|d| ddmmyy(&d, 0) && luhn(&d))
}

/// Austria: Sozialversicherungsnummer, serial, check digit, `ddmmyy`.
pub(super) fn austria(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 10) else {
        return false;
    };
    let r = weighted(&d, &[3, 7, 9, 0, 5, 8, 4, 2, 1, 6]) % 11;
    d[0] != 0 && r == d[3]
}

/// Bulgaria: EGN, `yymmdd` (month +20 before 1900, +40 from 2000), mod 11.
pub(super) fn bulgaria(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 10) else {
        return false;
    };
    let (century, month) = match two(&d, 2) {
        m @ 1..=12 => (1900, m),
        m @ 21..=32 => (1800, m - 20),
        m @ 41..=52 => (2000, m - 40),
        _ => return false,
    };
    let r = weighted(&d[..9], &[2, 4, 8, 5, 10, 9, 7, 3, 6]) % 11 % 10;
    valid_date(century + two(&d, 0), month, two(&d, 4)) && r == d[9]
}

/// Croatia: OIB, 11 digits, ISO 7064 MOD 11,10.
pub(super) fn croatia(c: &str, _: &str) -> bool {
    digits_exact(c, 11).is_some_and(|d| mod_11_10(&d))
}

/// Russia: SNILS, 9 digits and a two-digit check.
pub(super) fn snils(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 11) else {
        return false;
    };
    let sum = weighted(&d[..9], &[9, 8, 7, 6, 5, 4, 3, 2, 1]);
    let check = match sum {
        0..=99 => sum,
        100 | 101 => 0,
        _ => sum % 101 % 100,
    };
    number(&d[..9]) > 1_001_998 && check == two(&d, 9)
}

/// Russia: INN of a person, 12 digits, two checks.
pub(super) fn inn(c: &str, _: &str) -> bool {
    let Some(d) = digits_exact(c, 12) else {
        return false;
    };
    let first = weighted(&d[..10], &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10;
    let second = weighted(&d[..11], &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10;
    first == d[10] && second == d[11]
}

/// Israel: Teudat Zehut, 9 digits, Luhn.
pub(super) fn israel(c: &str, _: &str) -> bool {
    digits_exact(c, 9).is_some_and(|d| luhn(&d))
}
