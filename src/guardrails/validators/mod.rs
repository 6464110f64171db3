//! Checks a pattern match must pass before it counts: checksums (Luhn, IBAN
//! mod-97), number plans (SSN), parsers (IP addresses, JWT headers), and
//! tests that tell a real secret from a documentation placeholder.

use base64::Engine as _;
use std::net::{Ipv4Addr, Ipv6Addr};

mod contact;
mod context;
mod credentials;
mod dates;
mod numbers;
mod places;
mod secret_checks;
mod secret_names;
mod secret_values;
#[cfg(test)]
mod tests;

// The checks by kind; pii_ids/ reads the context helpers, the calendar
// and the Luhn sum too.
use contact::*;
use context::*;
pub(super) use context::{
    after, before, column_header, holds, is_date_like, shown_as_example, textbook_digits, words,
};
pub use credentials::is_placeholder;
use credentials::*;
pub(super) use dates::valid_date;
use dates::*;
pub(super) use numbers::luhn_digits;
use numbers::*;
pub use numbers::{iban, luhn};
use places::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    Luhn,
    Iban,
    Ssn,
    Email,
    Ipv4,
    Ipv6,
    Phone,
    Jwt,
    /// Not a placeholder such as `AKIAIOSFODNN7EXAMPLE` or `<your-key>`.
    Secret,
    /// A placeholder check plus enough randomness to be a real credential.
    Entropy,
    /// A password in a connection string: not a placeholder, and not the
    /// user name again (`postgres:postgres@`, `User ID=sa;...;Password=sa`),
    /// which is a container image's or a tutorial's default account and
    /// tells nothing the text does not already show.
    Credential,
    /// A national identity number: a country's checksum, and distinctive or
    /// named nearby (see `pii_ids/`).
    NationalId,
    /// A passport number after the word for passport, or an MRZ line.
    Passport,
    /// A date of birth: a real date, born from 1900 to this year, not an example.
    BirthDate,
    /// A postal address that belongs to a person, not an organisation.
    Address,
    /// The `secrets` pack's checks (`key`, `token`, `password`, `assigned`,
    /// ...): see `secret_checks.rs`.
    Secrets(secret_checks::SecretCheck),
}

impl Validator {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "luhn" => Self::Luhn,
            "iban" => Self::Iban,
            "ssn" => Self::Ssn,
            "email" => Self::Email,
            "ipv4" => Self::Ipv4,
            "ipv6" => Self::Ipv6,
            "phone" => Self::Phone,
            "jwt" => Self::Jwt,
            "secret" => Self::Secret,
            "entropy" => Self::Entropy,
            "credential" => Self::Credential,
            "national_id" => Self::NationalId,
            "passport" => Self::Passport,
            "birth_date" => Self::BirthDate,
            "address" => Self::Address,
            other => Self::Secrets(secret_checks::SecretCheck::parse(other)?),
        })
    }

    /// Whether `text[start..end]` (a match inside `text`) passes.
    pub fn accepts(self, text: &str, start: usize, end: usize) -> bool {
        let Some(found) = text.get(start..end) else {
            return false;
        };
        match self {
            Self::Luhn => card(text, start, end, found) && !shown_as_example(text, start, end),
            Self::Iban => iban(found),
            Self::Ssn => ssn(found) && !shown_as_example(text, start, end),
            Self::Email => email(text, start, end, found),
            Self::Ipv4 => ipv4(text, start, end, found),
            Self::Ipv6 => ipv6(found),
            Self::Phone => phone(text, start, end, found),
            Self::Jwt => jwt(found),
            Self::Secret => !is_placeholder(found),
            Self::Entropy => !is_placeholder(found) && looks_random(found),
            Self::Credential => {
                !is_placeholder(found)
                    && user_beside(text, start).is_none_or(|user| !user.eq_ignore_ascii_case(found))
            }
            Self::NationalId => super::pii_ids::national_id(text, start, end),
            Self::Passport => super::pii_ids::passport(text, start, end),
            Self::BirthDate => birth_date(text, start, end, found),
            Self::Address => address(text, start, end),
            Self::Secrets(check) => check.accepts(text, start, end),
        }
    }
}
