//! Contact details that belong to a person: e-mail addresses that are not
//! role or machine mailboxes, IP addresses that are not public resolvers or
//! version numbers, phone numbers on a person's line rather than an
//! organisation's.

use super::*;

/// Mailboxes of a role, not a person: the first word of the local part
/// (`info`, `support.de`, `press-office`), or the whole of it (`no-reply`).
pub(in crate::guardrails) const ROLE_MAILBOXES: &[&str] = &[
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
pub(in crate::guardrails) const MACHINE_WORDS: &[&str] = &[
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
pub(in crate::guardrails) fn email(text: &str, start: usize, end: usize, found: &str) -> bool {
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
pub(in crate::guardrails) const PUBLIC_RESOLVERS: &[[u8; 4]] = &[
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
pub(in crate::guardrails) fn public_ipv4(address: Ipv4Addr) -> bool {
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
pub(in crate::guardrails) const VERSION_WORDS: &[&str] = &[
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
pub(in crate::guardrails) fn ipv4(text: &str, start: usize, end: usize, found: &str) -> bool {
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
pub(in crate::guardrails) fn ipv6(found: &str) -> bool {
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
pub(in crate::guardrails) const PHONE_WORDS: &[&str] = &[
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
pub(in crate::guardrails) const ORGANISATION_LINES: &[&str] = &[
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
pub(in crate::guardrails) fn phone(text: &str, start: usize, end: usize, found: &str) -> bool {
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
pub(in crate::guardrails) fn personal_line(number: &str, found: &str) -> bool {
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
