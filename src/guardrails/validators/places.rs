//! Postal addresses that belong to a person, not an organisation, and whether
//! a name stands before a match.

use super::*;

/// Marks of an organisation's address: legal forms, registers, "head
/// office", "contact us".
pub(in crate::guardrails) const ORGANISATION_MARKS: &[&str] = &[
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
pub(in crate::guardrails) const PERSONAL_ADDRESS: &[&str] = &[
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

/// A field name that labels an address (`"adresse": "…"`).
fn address_field(w: &str) -> bool {
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
}

/// The words that make an address someone's, less the field names (which
/// count only right before the address).
static PERSONAL_NOT_FIELD: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        PERSONAL_ADDRESS
            .iter()
            .copied()
            .filter(|p| !address_field(p))
            .collect()
    });

/// A postal address that belongs to a person: a word that ties it to
/// someone nearby (lives at, ship to, customer, Name:, Herr), no mark of an
/// organisation (GmbH, Ltd, head office, company no.) around it, and not
/// shown as an example. Field names count only right before the address
/// (`"adresse": "…"`), so "which address do I give the taxi for the Eiffel
/// Tower?" does not make the tower's address personal.
pub(in crate::guardrails) fn address(text: &str, start: usize, end: usize) -> bool {
    let wide_before = span_before(text, start, 160);
    let wide_after = span_after(text, end, 100);
    if holds(
        &words(&format!("{wide_before} {wide_after}")),
        ORGANISATION_MARKS,
    ) || shown_as_example(text, start, end)
    {
        return false;
    }
    let close = words(span_before(text, start, 14));
    let near = words(span_before(text, start, 110));
    let labelled = close.split(' ').any(address_field);
    let personal = |w: &str| holds(w, &PERSONAL_NOT_FIELD);
    labelled
        || personal(&near)
        || personal(&words(span_after(text, end, 60)))
        || named_before(text, start)
}

/// Words in the names of places and firms, not people: `The Ritz`,
/// `Riverside Dental`, `Hotel Adlon`.
pub(in crate::guardrails) const PLACE_WORDS: &[&str] = &[
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
pub(in crate::guardrails) const NAME_PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "do", "du", "le",
    "la", "y", "e", "bin", "al", "ten", "ter",
];

/// A person's name right before the address: on the line above, alone or
/// after a label (`Aan: Daan van Dijk` / `Timo Fischer`, as on a letter or
/// a label), or just before it on the same line (`Jan Fischer, Birkenallee
/// 148`). A name is two to five capitalised words (particles allowed only
/// on a line of their own), no digits.
pub(in crate::guardrails) fn named_before(text: &str, start: usize) -> bool {
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
