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

#[test]
fn a_word_class_is_found_on_word_boundaries() {
    use super::context::{holds, words};
    const CLASS: &[&str] = &["e g", "sample*", "fake", "例*"];
    for (text, expected) in [
        ("for example, e.g. this one", true),
        ("a Samples folder", true),
        ("a resample step", false),
        ("fakes and forgeries", false),
        ("it is fake.", true),
        ("这是例子", true),
        ("nothing of the kind", false),
        // A phrase after a false start of itself.
        ("ee g e g", true),
    ] {
        assert_eq!(holds(&words(text), CLASS), expected, "{text}");
    }
}
