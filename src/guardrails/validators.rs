//! Checks a pattern match must pass before it counts: checksums (Luhn, IBAN
//! mod-97), number plans (SSN), parsers (IP addresses, JWT headers), and
//! tests that tell a real secret from a documentation placeholder.

use base64::Engine as _;
use std::net::{Ipv4Addr, Ipv6Addr};

#[path = "secret_checks.rs"]
mod secret_checks;

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
    /// named nearby (see `pii_ids.rs`).
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

fn digits(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.chars().filter_map(|c| c.to_digit(10))
}

/// The Luhn checksum over the digits of `text`.
pub fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = digits(text).collect();
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
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// A payment card: an issuer prefix with one of its lengths, consistent
/// separators, Luhn, and not part of a longer token (`xoxb-…-3712…-…`).
fn card(text: &str, start: usize, end: usize, found: &str) -> bool {
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
fn in_token(text: &str, start: usize, end: usize) -> bool {
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
const IBAN_LENGTHS: &[(&str, usize)] = &[
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
fn ssn(found: &str) -> bool {
    let number: String = found.chars().filter(char::is_ascii_digit).collect();
    if number.len() != 9 || textbook_digits(&number) || number == "078051120" {
        return false;
    }
    let area: u32 = number[..3].parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && &number[3..5] != "00" && &number[5..] != "0000"
}

/// Mailboxes of a role, not a person: the first word of the local part
/// (`info`, `support.de`, `press-office`), or the whole of it (`no-reply`).
const ROLE_MAILBOXES: &[&str] = &[
    "info",
    "information",
    "infos",
    "contact",
    "contacts",
    "contacto",
    "contato",
    "contatti",
    "kontakt",
    "support",
    "soporte",
    "suporte",
    "supporto",
    "help",
    "helpdesk",
    "servicedesk",
    "hilfe",
    "aide",
    "ayuda",
    "ajuda",
    "aiuto",
    "assistance",
    "assistenza",
    "service",
    "services",
    "servicio",
    "servico",
    "servizio",
    "kundenservice",
    "kundendienst",
    "customerservice",
    "customercare",
    "customer",
    "customers",
    "care",
    "clientes",
    "cliente",
    "clienti",
    "kunden",
    "sales",
    "vendas",
    "ventas",
    "vendite",
    "vente",
    "ventes",
    "vertrieb",
    "verkauf",
    "press",
    "presse",
    "prensa",
    "stampa",
    "imprensa",
    "pers",
    "media",
    "news",
    "newsletter",
    "marketing",
    "noreply",
    "donotreply",
    "mailer",
    "postmaster",
    "hostmaster",
    "webmaster",
    "abuse",
    "security",
    "privacy",
    "dpo",
    "datenschutz",
    "legal",
    "compliance",
    "billing",
    "invoice",
    "invoices",
    "facturacion",
    "facturation",
    "factures",
    "fatture",
    "rechnung",
    "accounts",
    "accounting",
    "finance",
    "payments",
    "office",
    "admin",
    "administrator",
    "administracion",
    "administration",
    "reception",
    "recepcion",
    "empfang",
    "hello",
    "hallo",
    "hola",
    "bonjour",
    "ciao",
    "team",
    "jobs",
    "careers",
    "karriere",
    "empleo",
    "hr",
    "recruiting",
    "bookings",
    "booking",
    "reservations",
    "reservas",
    "reservierung",
    "prenotazioni",
    "orders",
    "bestellung",
    "pedidos",
    "shop",
    "store",
    "tienda",
    "loja",
    "feedback",
    "enquiries",
    "inquiries",
    "enquiry",
    "inquiry",
    "general",
    "sac",
    "atendimento",
    "atencion",
    "ci",
    "bot",
    "build",
    "deploy",
    "notifications",
    "notification",
    "notify",
    "alerts",
    "alert",
    "system",
    "root",
    "nobody",
    "daemon",
    "devops",
    "it",
    "partners",
    "events",
    "community",
    "editor",
    "redaccion",
    "redazione",
    "redaktion",
    "secretaria",
    "secretariat",
    "segreteria",
    "sekretariat",
    "devis",
    "quotes",
    "tickets",
    "hotline",
    "mail",
    "webshop",
    "bureau",
    "buero",
    "kantoor",
    "ufficio",
    "oficina",
];

/// Words in a local part that make it a machine's: `release-bot`, `ci-runner`.
const MACHINE_WORDS: &[&str] = &[
    "bot",
    "noreply",
    "robot",
    "daemon",
    "automation",
    "ci",
    "runner",
];

/// A person's mailbox: not a reserved example domain (RFC 2606, RFC 6761,
/// or a domain named `example` under any suffix), not an SSH remote
/// (`git@host:path`), not the credentials of a URL
/// (`https://user:token@host`), not a service account, and not a role
/// mailbox (`info@`, `support@`, `presse@`, `no-reply@`).
fn email(text: &str, start: usize, end: usize, found: &str) -> bool {
    let Some((local, domain)) = found.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    let local = local.to_ascii_lowercase();
    let reserved = ["example.com", "example.org", "example.net", "localhost"];
    let reserved_tld = [".example", ".test", ".invalid", ".localhost", ".local"];
    // `git@github.com:org/repo.git`, not "write to jane@acme.io: ...".
    let ssh_remote = text[end..].starts_with(':')
        && text[end + 1..]
            .starts_with(|c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '~'));
    let token_start = text[..start]
        .rfind(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '(' | '[' | '`' | '='))
        .map_or(0, |i| i + 1);
    let url_credentials = text[token_start..start].contains("://") || text[..start].ends_with(':');
    let labels: Vec<&str> = domain.split('.').collect();
    let machine_domain = labels.iter().any(|l| {
        matches!(
            *l,
            "example" | "noreply" | "no-reply" | "gserviceaccount" | "bounces"
        )
    });
    let words: Vec<&str> = local
        .split(['.', '_', '-', '+'])
        .filter(|w| !w.is_empty())
        .collect();
    let joined: String = words.concat();
    let role = words.first().is_some_and(|w| ROLE_MAILBOXES.contains(w))
        || ROLE_MAILBOXES.contains(&joined.trim_end_matches(|c: char| c.is_ascii_digit()))
        || words.iter().any(|w| MACHINE_WORDS.contains(w));
    !(ssh_remote
        || url_credentials
        || machine_domain
        || role
        || reserved
            .iter()
            .any(|r| domain == *r || domain.ends_with(&format!(".{r}")))
        || reserved_tld.iter().any(|t| domain.ends_with(t))
        || local.is_empty()
        || labels
            .last()
            .is_some_and(|tld| matches!(*tld, "png" | "jpg" | "gif" | "svg" | "webp")))
}

/// Public DNS resolvers: infrastructure everyone uses, not anyone's address.
const PUBLIC_RESOLVERS: &[[u8; 4]] = &[
    [8, 8, 8, 8],
    [8, 8, 4, 4],
    [1, 1, 1, 1],
    [1, 0, 0, 1],
    [9, 9, 9, 9],
    [149, 112, 112, 112],
    [208, 67, 222, 222],
    [208, 67, 220, 220],
];

/// Whether an IPv4 address can be someone's: not private (RFC 1918), shared
/// (RFC 6598), loopback, link-local, documentation (RFC 5737),
/// benchmarking (RFC 2544), multicast, reserved or a public resolver.
pub(super) fn public_ipv4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    let shared = a == 100 && (64..128).contains(&b);
    let benchmarking = a == 198 && (b == 18 || b == 19);
    let protocol = a == 192 && b == 0 && c == 0;
    !(address.is_private()
        || address.is_loopback()
        || address.is_link_local()
        || address.is_documentation()
        || address.is_multicast()
        || address.is_unspecified()
        || address.is_broadcast()
        || a == 0
        || a >= 240
        || shared
        || benchmarking
        || protocol
        || PUBLIC_RESOLVERS.contains(&address.octets()))
}

/// Words that make a dotted quad a version: `firmware 4.2.11.3`.
const VERSION_WORDS: &[&str] = &[
    "version*",
    "release*",
    "firmware",
    "bootloader",
    "build",
    "patch",
    "update*",
    "upgrade*",
    "changelog",
    "kernel",
    "driver*",
    "sdk",
    "versión",
    "versão",
    "versione",
    "edition",
];

/// A host's IPv4 address that can be a person's: public (see
/// [`public_ipv4`]), not a version number (`v1.2.3.4`, `firmware 1.2.3.4`,
/// `1.2.3.4.5`, a `## 1.2.3.4` heading), a network (`10.0.0.0/16`, `.0` last) or a netmask.
fn ipv4(text: &str, start: usize, end: usize, found: &str) -> bool {
    let Ok(address) = found.parse::<Ipv4Addr>() else {
        return false;
    };
    let preceding = text[..start].trim_end().to_ascii_lowercase();
    let line_head = before(text, start, 16).trim();
    let heading = !line_head.is_empty() && line_head.chars().all(|c| c == '#');
    let versioned = preceding.ends_with('v')
        || heading
        || holds(&words(before(text, start, 32)), VERSION_WORDS)
        || text[..start].ends_with('.')
        || (text[end..].starts_with('.')
            && text[end + 1..].starts_with(|c: char| c.is_ascii_digit()));
    let network = text[end..].starts_with('/') || address.octets()[3] == 0;
    let bits = u32::from(address);
    let netmask = bits.leading_ones() + bits.trailing_zeros() == 32;
    !(versioned || network || netmask) && public_ipv4(address)
}

/// A global unicast IPv6 address: not loopback, unspecified, multicast,
/// link-local, unique local, documentation (`2001:db8::/32`), or an
/// IPv4-mapped address that is not public.
fn ipv6(found: &str) -> bool {
    let Ok(address) = found.parse::<Ipv6Addr>() else {
        return false;
    };
    let segments = address.segments();
    let documentation = segments[0] == 0x2001 && segments[1] == 0xdb8;
    let mapped_private = address.to_ipv4_mapped().is_some_and(|v4| !public_ipv4(v4));
    found.len() >= 6
        && !(address.is_loopback()
            || address.is_unspecified()
            || address.is_multicast()
            || address.is_unicast_link_local()
            || address.is_unique_local()
            || documentation
            || mapped_private)
}

/// Words that say a number nearby is a phone number (for numbers without
/// a `+`, a trunk `0` or an area code in brackets).
const PHONE_WORDS: &[&str] = &[
    "tel",
    "tél",
    "tlf",
    "tfno",
    "telf",
    "telef*",
    "teléf*",
    "téléph*",
    "teleph*",
    "phone*",
    "ph",
    "mobile*",
    "mobil*",
    "móvil*",
    "movil*",
    "cell*",
    "cel",
    "celular*",
    "portable*",
    "handy*",
    "gsm",
    "whatsapp*",
    "sms",
    "call*",
    "ring",
    "text",
    "llam*",
    "chiam*",
    "ligar",
    "liga",
    "ligue*",
    "appel*",
    "anruf*",
    "ruf",
    "bel",
    "bellen",
    "belt",
    "durchwahl",
    "rufnummer",
    "komórk*",
    "zadzwoń*",
    "dzwoń*",
    "contact*",
    "contatt*",
    "kontakt*",
    "reach",
    "joindre",
    "joignable",
    "erreichbar",
    "raggiungibile",
    "my number",
    "mi número",
    "mon numéro",
    "meine nummer",
    "mio numero",
    "meu número",
    "mijn nummer",
    "mój numer",
    "telefono",
    "teléfono",
    "telefone",
    "telefon",
    "電話*",
    "电话*",
    "messag*",
    "mensag*",
    "mensaj*",
    "nachricht*",
    "wiadomo*",
    "sms*",
];

/// Words that say a number is an organisation's line, not a person's.
const ORGANISATION_LINES: &[&str] = &[
    "switchboard",
    "zentrale",
    "standard",
    "centralino",
    "centralita",
    "central",
    "hotline",
    "helpline",
    "helpdesk",
    "service desk",
    "servicedesk",
    "support",
    "customer service*",
    "customer care",
    "kundenservice",
    "kundendienst",
    "service client*",
    "servicio al cliente",
    "atención al cliente",
    "atencion al cliente",
    "atendimento",
    "sac",
    "press",
    "presse",
    "prensa",
    "stampa",
    "imprensa",
    "media",
    "enquiries",
    "inquiries",
    "reception",
    "empfang",
    "recepción",
    "head office",
    "headquarters",
    "main line",
    "main office",
    "toll free",
    "freephone",
    "numéro vert",
    "numero verde",
    "número gratuito",
    "kostenlos",
    "infoline",
    "info line",
    "sales",
    "vertrieb",
    "ventas",
    "office",
    "bureau",
    "büro",
    "oficina",
    "ufficio",
    "escritório",
    "fax",
    "company",
    "empresa",
    "firma",
    "entreprise",
    "azienda",
    "kundenserv*",
    "klantenserv*",
    "klantendienst",
    "kundeserv*",
    "kundtjänst",
    "asiakaspalvelu",
    "obsługa klienta",
    "servizio clienti",
    "assistenza clienti",
    "apoio ao cliente",
    "sav",
    "service après vente",
];

/// A person's phone number: 8–15 digits (E.164), not inside a longer run
/// of digit groups or an id, not an SSN's shape, not a placeholder of zeros
/// or the fictional 555-01xx range, a complete number when it says `+1`;
/// not a toll-free line or one introduced as an organisation's
/// (switchboard, press, customer service) or ending in `0000`. Numbers
/// with neither a `+`, a trunk `0`, brackets nor a North American shape
/// (`610 533 185`) count only after a word like "phone", "cell" or "call".
fn phone(text: &str, start: usize, end: usize, found: &str) -> bool {
    let number: String = found.chars().filter(char::is_ascii_digit).collect();
    let id_char = |c: Option<char>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '#' | '+'))
    };
    // `.` or `-` count as part of the number only between digits.
    let glued = |mut chars: std::str::Chars<'_>, forward: bool| {
        let mut next = || {
            if forward {
                chars.next()
            } else {
                chars.next_back()
            }
        };
        let first = next();
        id_char(first)
            || (matches!(first, Some('.' | '-')) && next().is_some_and(|c| c.is_ascii_digit()))
    };
    // A digit just before the separator: the tail of a longer number.
    let mut preceding = text[..start].chars().rev();
    let after_group = matches!(preceding.next(), Some(' ' | '.' | '-'))
        && preceding.next().is_some_and(|c| c.is_ascii_digit());
    let ssn_shaped = found.len() == 11
        && found.as_bytes().get(3) == Some(&b'-')
        && found.as_bytes().get(6) == Some(&b'-');
    let zeros = number.chars().rev().take(7).filter(|c| *c == '0').count() >= 6;
    let nanp_short = ["+1 ", "+1-", "+1.", "+1("]
        .iter()
        .any(|p| found.starts_with(p))
        && number.len() != 11;
    let plain = (8..=15).contains(&number.len())
        && !glued(text[..start].chars(), false)
        && !glued(text[end..].chars(), true)
        && !after_group
        && !ssn_shaped
        && !zeros
        && !nanp_short
        && !is_date_like(found);
    if !plain
        || !personal_line(&number, found)
        || found.parse::<Ipv4Addr>().is_ok()
        || shown_as_example(text, start, end)
    {
        return false;
    }
    let close = words(before(text, start, 48));
    if holds(&close, ORGANISATION_LINES) {
        return false;
    }
    let trunk = found.starts_with('0') && number.len() >= 9;
    let nanp = number.len() == 10
        && found.len() == 12
        && matches!(found.as_bytes()[3], b'.' | b'-')
        && found.as_bytes()[3] == found.as_bytes()[7];
    if found.starts_with(['+', '(']) || trunk || nanp {
        return true;
    }
    (9..=12).contains(&number.len())
        && (holds(&words(before(text, start, 72)), PHONE_WORDS)
            || holds(&words(after(text, end, 32)), PHONE_WORDS)
            || column_header(text, start).is_some_and(|h| holds(&words(h), PHONE_WORDS)))
}

/// Not a toll-free, premium or fictional number (organisations' lines and
/// film numbers), and not ending in `0000` (a switchboard's main number).
fn personal_line(number: &str, found: &str) -> bool {
    // The national number: without a country code of 1 (NANP) or a trunk 0.
    let nanp = number.len() == 11 && number.starts_with('1') || number.len() == 10;
    let national = if number.len() == 11 && number.starts_with('1') {
        &number[1..]
    } else {
        number
    };
    let toll_free_nanp = nanp
        && ["800", "888", "877", "866", "855", "844", "833"].contains(&&national[..3])
        && (found.starts_with("+1")
            || found.starts_with('1')
            || found.starts_with('(')
            || number.len() == 10);
    let fictional =
        nanp && national.len() == 10 && &national[3..6] == "555" && national[6..].starts_with("01");
    let toll_free = ["0800", "0808", "0900", "0801"]
        .iter()
        .any(|p| number.starts_with(p))
        || (found.starts_with('+') && {
            let after_code = found
                .trim_start_matches('+')
                .split_once([' ', '.', '-'])
                .map_or("", |(_, rest)| rest);
            after_code.starts_with("800") || after_code.starts_with("0800")
        });
    !(toll_free_nanp || fictional || toll_free || number.ends_with("0000"))
}

/// Month names (and usual abbreviations) in English, French, German,
/// Spanish, Italian, Portuguese, Dutch, Swedish and Polish (genitive).
const MONTHS: &[&[&str]] = &[
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

fn month_number(word: &str) -> Option<u32> {
    let word = word.trim_end_matches('.').to_lowercase();
    MONTHS
        .iter()
        .position(|names| names.contains(&word.as_str()))
        .map(|i| i as u32 + 1)
}

/// The year now (UTC), for "born no later than this year".
fn this_year() -> u32 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    1970 + (seconds / 31_556_952) as u32
}

fn valid_date(year: u32, month: u32, day: u32) -> bool {
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
fn parse_date(found: &str) -> Option<(u32, u32, u32)> {
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
const DEATH_WORDS: &[&str] = &[
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
const FOUNDING_WORDS: &[&str] = &[
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
fn birth_date(text: &str, start: usize, end: usize, found: &str) -> bool {
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

/// Marks of an organisation's address: legal forms, registers, "head
/// office", "contact us".
const ORGANISATION_MARKS: &[&str] = &[
    "gmbh",
    "ltd",
    "limited",
    "inc",
    "llc",
    "llp",
    "plc",
    "corp",
    "corporation",
    "sarl",
    "sas",
    "s a",
    "s l",
    "s p a",
    "spa",
    "srl",
    "s r l",
    "b v",
    "bv",
    "n v",
    "ag",
    "kg",
    "ohg",
    "ug",
    "e v",
    "ltda",
    "eireli",
    "s a s",
    "company no*",
    "company number",
    "registered in",
    "registered office",
    "handelsregister",
    "hrb",
    "hra",
    "amtsgericht",
    "ust idnr",
    "ust id*",
    "vat",
    "vat no*",
    "tva",
    "p iva",
    "partita iva",
    "cif",
    "cnpj",
    "kvk",
    "siret",
    "siren",
    "rcs",
    "head office",
    "headquarters",
    "sitz",
    "siège social",
    "sede legale",
    "contact us",
    "impressum",
    "opening hours",
    "öffnungszeiten",
    "horaires",
];

/// Words that put an address in a person's hands: where someone lives,
/// what a letter or parcel is addressed to, a person's record.
const PERSONAL_ADDRESS: &[&str] = &[
    "lives",
    "live at",
    "living at",
    "lived at",
    "resides",
    "resident",
    "residente",
    "residence",
    "moving to",
    "moved to",
    "move to",
    "wohne",
    "wohnt",
    "wohnhaft",
    "woon",
    "woont",
    "habite",
    "vive en",
    "vive a",
    "vivo en",
    "vivo a",
    "abito",
    "abita",
    "moro",
    "mora",
    "mieszka*",
    "domicile",
    "domicilio",
    "domicilié*",
    "morada",
    "endereço",
    "endereco",
    "dirección",
    "direccion",
    "indirizzo",
    "anschrift",
    "address",
    "adresse",
    "adres",
    "adresa",
    "my address",
    "my home",
    "my flat",
    "my apartment",
    "my house",
    "mi dirección",
    "mi domicilio",
    "mis datos",
    "meine adresse",
    "meine anschrift",
    "mon adresse",
    "mio indirizzo",
    "minha morada",
    "meu endereço",
    "mijn adres",
    "ship*",
    "deliver*",
    "send to",
    "mail to",
    "post to",
    "entrega*",
    "envío",
    "envio",
    "envia*",
    "enviar",
    "livraison",
    "livrer",
    "expédi*",
    "liefer*",
    "mailed to",
    "mailing address",
    "versand*",
    "schick*",
    "consegn*",
    "spedi*",
    "bezorg*",
    "verzend*",
    "wysył*",
    "destinatário",
    "destinatario",
    "destinataire",
    "empfänger",
    "recipient",
    "addressee",
    "intestatario",
    "absender",
    "sender",
    "remitente",
    "expéditeur",
    "expediteur",
    "mittente",
    "remetente",
    "afzender",
    "nadawca",
    "avsändare",
    "apt",
    "apartment",
    "flat",
    "apto",
    "appartement",
    "wohnung",
    "whg",
    "piso",
    "bajo",
    "casa",
    "interno",
    "scala",
    "mieszkania",
    "titular",
    "cliente",
    "customer",
    "client",
    "kunde",
    "patient",
    "paziente",
    "paciente",
    "employee",
    "tenant",
    "mieter",
    "inquilino",
    "locataire",
    "guest",
    "name",
    "nom",
    "nome",
    "nombre",
    "naam",
    "imię",
    "nazwisko",
    "full name",
    "mr",
    "mrs",
    "ms",
    "miss",
    "herr",
    "frau",
    "mme",
    "mlle",
    "sr",
    "sra",
    "sig",
    "signor*",
    "dhr",
    "mevr",
    "pan",
    "pani",
];

/// A postal address that belongs to a person: a word that ties it to
/// someone nearby (lives at, ship to, customer, Name:, Herr), no mark of an
/// organisation (GmbH, Ltd, head office, company no.) around it, and not
/// shown as an example. Field names count only right before the address
/// (`"adresse": "…"`), so "which address do I give the taxi for the Eiffel
/// Tower?" does not make the tower's address personal.
fn address(text: &str, start: usize, end: usize) -> bool {
    let wide_before = span_before(text, start, 160);
    let wide_after = span_after(text, end, 100);
    if holds(
        &words(&format!("{wide_before} {wide_after}")),
        ORGANISATION_MARKS,
    ) || shown_as_example(text, start, end)
    {
        return false;
    }
    let field = |w: &str| {
        matches!(
            w,
            "address"
                | "adresse"
                | "adres"
                | "adresa"
                | "dirección"
                | "direccion"
                | "indirizzo"
                | "morada"
                | "endereço"
                | "endereco"
                | "anschrift"
                | "domicilio"
        )
    };
    let close = words(span_before(text, start, 14));
    let near = words(span_before(text, start, 110));
    let labelled = close.split(' ').any(field);
    let personal = |w: &str| {
        let list: Vec<&str> = PERSONAL_ADDRESS
            .iter()
            .copied()
            .filter(|p| !field(p))
            .collect();
        holds(w, &list)
    };
    labelled
        || personal(&near)
        || personal(&words(span_after(text, end, 60)))
        || named_before(text, start)
}

/// Words in the names of places and firms, not people: `The Ritz`,
/// `Riverside Dental`, `Hotel Adlon`.
const PLACE_WORDS: &[&str] = &[
    "the",
    "hotel",
    "museum",
    "musée",
    "museo",
    "restaurant",
    "café",
    "cafe",
    "bar",
    "pub",
    "bank",
    "church",
    "school",
    "university",
    "college",
    "hospital",
    "clinic",
    "centre",
    "center",
    "station",
    "airport",
    "park",
    "mall",
    "shop",
    "store",
    "gallery",
    "theatre",
    "theater",
    "library",
    "office",
    "group",
    "media",
    "logistics",
    "dental",
    "studio",
    "club",
    "house",
    "hall",
    "tower",
    "plaza",
    "market",
    "services",
    "solutions",
    "consulting",
    "partners",
    "holdings",
    "international",
    "company",
    "co",
    "inc",
    "ltd",
    "gmbh",
];

/// Lower-case particles of people's names: `van Dijk`, `de la Cruz`.
const NAME_PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "do", "du", "le",
    "la", "y", "e", "bin", "al", "ten", "ter",
];

/// A person's name right before the address: on the line above, alone or
/// after a label (`Aan: Daan van Dijk` / `Timo Fischer`, as on a letter or
/// a label), or just before it on the same line (`Jan Fischer, Birkenallee
/// 148`). A name is two to five capitalised words (particles allowed only
/// on a line of their own), no digits.
fn named_before(text: &str, start: usize) -> bool {
    let is_name = |candidate: &str, particles: bool| {
        let words: Vec<&str> = candidate.split_whitespace().collect();
        let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        if lower.iter().any(|w| PLACE_WORDS.contains(&w.as_str())) {
            return false;
        }
        let capitalised = |w: &str| {
            let mut chars = w.chars();
            chars.next().is_some_and(char::is_uppercase)
                && chars.all(|c| c.is_lowercase() || matches!(c, '-' | '\'' | '’' | '.'))
        };
        (2..=5).contains(&words.len())
            && words.iter().filter(|w| capitalised(w)).count() >= 2
            && words
                .iter()
                .all(|w| capitalised(w) || (particles && NAME_PARTICLES.contains(w)))
    };
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let on_line = text[line_start..start].trim_end();
    if let Some(head) = on_line.strip_suffix(',') {
        let segment = head
            .rsplit([',', ':', '(', '"', '«'])
            .next()
            .unwrap_or(head);
        // The capitalised words at the end: "ship it to Emily Clarke,"; not
        // a street named after someone ("5 avenue Anatole France,").
        let street = segment.contains(|c: char| c.is_ascii_digit());
        let tail: Vec<&str> = segment
            .split_whitespace()
            .rev()
            .take_while(|w| w.chars().next().is_some_and(char::is_uppercase))
            .collect();
        let name: Vec<&str> = tail.into_iter().rev().collect();
        if !street && name.len() <= 4 && is_name(&name.join(" "), false) {
            return true;
        }
    }
    if !on_line.is_empty() || line_start == 0 {
        return false;
    }
    let above = text[..line_start - 1]
        .lines()
        .next_back()
        .unwrap_or("")
        .trim();
    let name = above.split_once(':').map_or(above, |(_, rest)| rest).trim();
    is_name(name, true)
}

// ---- context: words around a match ----

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Up to `bytes` of `text` before `start`, across lines.
pub(super) fn span_before(text: &str, start: usize, bytes: usize) -> &str {
    &text[ceil_boundary(text, start.saturating_sub(bytes))..start]
}

/// Up to `bytes` of `text` after `end`, across lines.
pub(super) fn span_after(text: &str, end: usize, bytes: usize) -> &str {
    &text[end..floor_boundary(text, (end + bytes).min(text.len()))]
}

/// Up to `bytes` of `text` before `start`, on the same line.
pub(super) fn before(text: &str, start: usize, bytes: usize) -> &str {
    let span = span_before(text, start, bytes);
    span.rfind('\n').map_or(span, |i| &span[i + 1..])
}

/// Up to `bytes` of `text` after `end`, on the same line.
pub(super) fn after(text: &str, end: usize, bytes: usize) -> &str {
    let span = span_after(text, end, bytes);
    span.find('\n').map_or(span, |i| &span[..i])
}

/// `text` lower-cased as words of letters and digits, one space between
/// them and one at each end: what [`holds`] searches.
pub(super) fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for c in text.chars() {
        if c.is_alphanumeric() {
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
/// Chinese, Japanese or Korean entry anywhere).
pub(super) fn holds(words: &str, class: &[&str]) -> bool {
    class.iter().any(|entry| {
        let (needle, stem) = match entry.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (*entry, false),
        };
        // Chinese, Japanese and Korean write words without spaces.
        if needle.chars().next().is_some_and(|c| c as u32 >= 0x1100) {
            return words.contains(needle);
        }
        words.match_indices(needle).any(|(at, _)| {
            words[..at].ends_with(' ') && (stem || words[at + needle.len()..].starts_with(' '))
        })
    })
}

/// The column header of a value in a delimited row (CSV, TSV, a Markdown
/// table): the field at the same position in the nearest line above with
/// as many delimiters and no digits. `employee,tfn\nLiam,882791100` gives
/// `tfn`.
pub(super) fn column_header(text: &str, start: usize) -> Option<&str> {
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
pub(super) const EXAMPLE: &[&str] = &[
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
pub(super) fn shown_as_example(text: &str, start: usize, end: usize) -> bool {
    let around = format!("{} {}", before(text, start, 80), after(text, end, 48));
    holds(&words(&around), EXAMPLE)
}

/// A textbook number: one digit repeated, or six or more digits counting up
/// or down (`123456789`, `987654`).
pub(super) fn textbook_digits(text: &str) -> bool {
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
pub(super) fn is_date_like(found: &str) -> bool {
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

/// A JWT: the header decodes to a JSON object naming an `alg`.
fn jwt(found: &str) -> bool {
    let header = found.split('.').next().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|value| value.get("alg").is_some())
}

/// Documentation placeholders: AWS's `...EXAMPLE` keys, `<your-key>`,
/// `${VAR}`, runs of one character, and the usual filler words.
pub fn is_placeholder(found: &str) -> bool {
    let lower = found.to_ascii_lowercase();
    const FILLER: &[&str] = &[
        "example",
        "your",
        "xxxx",
        "placeholder",
        "changeme",
        "dummy",
        "redacted",
        "sample",
        "<",
        "${",
        "{{",
        "****",
        "....",
        "1234567890",
        "abcdef123456",
        "insert",
    ];
    if FILLER.iter().any(|word| lower.contains(word)) {
        return true;
    }
    // Whole values that are the name of what belongs there.
    const NAMES: &[&str] = &[
        "password", "passwd", "pass", "secret", "pwd", "token", "apikey", "api_key",
    ];
    if NAMES.contains(&lower.as_str()) {
        return true;
    }
    // A value that is one character repeated, e.g. `sk_live_000000000000000000000000`.
    let tail: Vec<char> = found.chars().rev().take(16).collect();
    tail.len() >= 12 && tail.iter().all(|c| *c == tail[0])
}

/// The user name that goes with the password at `start`: the `user` of
/// `scheme://user:password@`, or the `User ID=` / `Uid=` / `User=` /
/// `Username=` key on the same line of an ADO.NET or JDBC string.
fn user_beside(text: &str, start: usize) -> Option<&str> {
    static KEY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\b(?:user ?id|uid|user|user ?name)\s*=\s*([^;\n"']+)"#)
            .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
    });
    let before = &text[..start];
    if let Some(authority) = before.strip_suffix(':')
        && let Some((_, user)) = authority.rsplit_once("://")
    {
        return Some(user);
    }
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    KEY.captures(&text[line_start..line_end])
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim())
}

/// A credential-like value: long, mixed character classes, high entropy.
fn looks_random(found: &str) -> bool {
    let value = found.trim_matches(|c| c == '"' || c == '\'');
    if value.len() < 12 {
        return false;
    }
    let classes = [
        value.bytes().any(|b| b.is_ascii_lowercase()),
        value.bytes().any(|b| b.is_ascii_uppercase()),
        value.bytes().any(|b| b.is_ascii_digit()),
        value.bytes().any(|b| !b.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return false;
    }
    let mut counts = [0u32; 256];
    for byte in value.bytes() {
        counts[usize::from(byte)] += 1;
    }
    let len = value.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / len;
            -p * p.log2()
        })
        .sum();
    entropy >= 3.2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(validator: &str, cases: &[(&str, bool)]) {
        let v = Validator::parse(validator).unwrap();
        for (text, expected) in cases {
            assert_eq!(
                v.accepts(text, 0, text.len()),
                *expected,
                "{validator}: {text}"
            );
        }
    }

    #[test]
    fn checksums_and_number_plans() {
        check(
            "luhn",
            &[
                ("4111 1111 1111 1111", true),
                ("4111-1111-1111-1111", true),
                ("4111 1111-1111 1111", false),
                ("4111 1111 1111 1112", false),
                ("5500 0000 0000 0004", true),
                ("3782 822463 10005", true),
                ("3712850906469", false),
                ("4111 1111 1111 1", false),
                ("1234 5678 9012 3452", false),
            ],
        );
        check(
            "iban",
            &[
                ("DE89 3704 0044 0532 0130 00", true),
                ("GB82 WEST 1234 5698 7654 32", true),
                ("GB82 WEST 1234 5698 7654 33", false),
                ("FR14 2004 1010 0505 0001 3M02 606", true),
                ("XX12 3456", false),
            ],
        );
        check(
            "ssn",
            &[
                ("536-22-8741", true),
                ("123-45-6789", false),
                ("078-05-1120", false),
                ("000-12-3456", false),
                ("666-12-3456", false),
                ("912-34-5678", false),
                ("123-00-4567", false),
            ],
        );
    }

    #[test]
    fn placeholders_and_parsers() {
        check(
            "email",
            &[
                ("jane.doe@acme.io", true),
                ("user@example.com", false),
                ("a@b.test", false),
                ("icon@2x.png", false),
            ],
        );
        check(
            "ipv4",
            &[
                ("84.17.52.139", true),
                ("203.0.113.7", false),
                ("10.0.4.17", false),
                ("172.16.1.97", false),
                ("192.168.178.1", false),
                ("100.72.3.4", false),
                ("8.8.8.8", false),
                ("232.242.119.161", false),
                ("127.0.0.1", false),
                ("999.1.1.1", false),
            ],
        );
        check(
            "ipv6",
            &[
                ("2a00:23c5:c5eb:dab4:99c3:7884:8b32:f558", true),
                ("2001:db8::8a2e:370:7334", false),
                ("fe80::1ff:fe23:4567:890a", false),
                ("fd12:3456:789a::1", false),
                ("::1", false),
                ("12:30:45", false),
            ],
        );
        check(
            "secret",
            &[
                ("AKIAIOSFODNN7EXAMPLE", false),
                ("AKIA4QWERTYZXCVB7LMN", true),
                ("sk_live_000000000000000000000000", false),
            ],
        );
        check(
            "entropy",
            &[
                ("hunter2", false),
                ("Tr0ub4dor&3-xK9!pq", true),
                ("aaaaaaaaaaaaaaaa", false),
            ],
        );
        check(
            "jwt",
            &[
                ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", true),
                ("eyJmb28iOjF9.eyJzdWIiOiIxIn0.sig", false),
            ],
        );
        let text = "version 10.2.3.4";
        assert!(!Validator::Ipv4.accepts(text, 8, text.len()));
    }

    /// Whether `validator` accepts `needle` where it first occurs in `text`.
    fn accepts_in(validator: Validator, text: &str, needle: &str) -> bool {
        let start = text.find(needle).unwrap();
        validator.accepts(text, start, start + needle.len())
    }

    #[test]
    fn people_not_organisations() {
        let email = |text: &str, needle: &str| accepts_in(Validator::Email, text, needle);
        assert!(email("write to nerea73@gmail.com", "nerea73@gmail.com"));
        assert!(!email("Escribe a ayuda@clinica.es", "ayuda@clinica.es"));
        assert!(!email(
            "press: presse@garnier-avocats.fr",
            "presse@garnier-avocats.fr"
        ));
        assert!(!email("from no-reply@shop.de", "no-reply@shop.de"));
        assert!(!email(
            "Author: release-bot <ci@brightwave.io>",
            "ci@brightwave.io"
        ));
        assert!(!email("k.sato@example.jp", "k.sato@example.jp"));
        assert!(!email(
            "https://x-access-token:ghs_abc@github.com/o/r.git",
            "ghs_abc@github.com"
        ));
        assert!(!email(
            "sa@proj-1.iam.gserviceaccount.com",
            "sa@proj-1.iam.gserviceaccount.com"
        ));

        let phone = |text: &str, needle: &str| accepts_in(Validator::Phone, text, needle);
        assert!(phone("portable : 0495 78 61 84.", "0495 78 61 84"));
        assert!(phone("Davide, cell. 366 168 4154.", "366 168 4154"));
        assert!(phone("Llamar a Lucía: 610 533 185.", "610 533 185"));
        assert!(!phone("Order 610 533 185 shipped.", "610 533 185"));
        assert!(!phone("Switchboard: +44 20 7946 0123", "+44 20 7946 0123"));
        assert!(!phone("call 0800 727 9966", "0800 727 9966"));
        assert!(!phone("call 1-800-555-0199", "800-555-0199"));
        assert!(!phone("dial +1 415 555 0123", "+1 415 555 0123"));
        assert!(!phone("main line 0113 496 0000", "0113 496 0000"));
        assert!(phone("call +44 20 7946 0958", "+44 20 7946 0958"));
    }

    #[test]
    fn dates_of_birth_and_addresses() {
        let dob = |text: &str, needle: &str| accepts_in(Validator::BirthDate, text, needle);
        assert!(dob("nato il 13/05/1988 a Verona", "13/05/1988"));
        assert!(dob("Née le 14 janvier 1970", "14 janvier 1970"));
        assert!(dob("Born on April 23, 2020", "April 23, 2020"));
        assert!(dob("ist am 29. Oktober 2014 geboren", "29. Oktober 2014"));
        assert!(dob("Birthday 12/31/1983", "12/31/1983"));
        assert!(!dob(
            "nasceu em Lisboa a 13 de junho de 1888",
            "13 de junho de 1888"
        ));
        assert!(!dob("born 3 March 1921, died 4 May 1990", "3 March 1921"));
        assert!(!dob("born 31/02/1990", "31/02/1990"));
        assert!(!dob("born 12 Foo 1990", "12 Foo 1990"));

        let address = |text: &str, needle: &str| accepts_in(Validator::Address, text, needle);
        assert!(address(
            "My grandmother lives at ul. Piotrkowska 94/27, 50-310 Wrocław.",
            "ul. Piotrkowska 94/27"
        ));
        assert!(address(
            "{\"adresse\": \"rue de Fer 106, 1000 Bruxelles\"}",
            "rue de Fer 106"
        ));
        assert!(!address(
            "Brightwave Media GmbH\nFriedrichstraße 68, 10117 Berlin",
            "Friedrichstraße 68"
        ));
        assert!(!address(
            "Quelle adresse indiquer au taxi pour la tour Eiffel ? « Champ de Mars, 5 avenue Anatole France, 75007 Paris »",
            "5 avenue Anatole France"
        ));
    }

    #[test]
    fn a_password_that_repeats_the_user_is_a_default_not_a_secret() {
        // (text, password) -> accepted
        let cases = [
            (
                "postgres://postgres:postgres@localhost/test",
                "postgres",
                false,
            ),
            ("amqp://Guest:guest@rabbit:5672", "guest", false),
            (
                "postgres://app_user:EeAJiwrPzWnTWHq4@db:5432/x",
                "EeAJiwrPzWnTWHq4",
                true,
            ),
            (
                "mysql://root:AMprfwPnr2yC@10.0.3.7/wp",
                "AMprfwPnr2yC",
                true,
            ),
            (
                "Server=db;User ID=sa_admin;Password=sa_admin;",
                "sa_admin",
                false,
            ),
            (
                "Server=db;Uid=svc_crm;Pwd=d30HV1pfrUxfeigOOy;",
                "d30HV1pfrUxfeigOOy",
                true,
            ),
            ("postgres://app:changeme@db/app", "changeme", false),
        ];
        for (text, password, expected) in cases {
            // The password itself, not a user name spelled the same.
            let start = text
                .rfind(&format!(":{password}@"))
                .or_else(|| text.rfind(&format!("={password};")))
                .unwrap()
                + 1;
            let end = start + password.len();
            assert_eq!(
                Validator::Credential.accepts(text, start, end),
                expected,
                "{text}"
            );
        }
    }
}
