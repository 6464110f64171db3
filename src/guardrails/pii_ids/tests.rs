use super::*;

/// Valid numbers below were computed with each scheme's published
/// algorithm; the invalid ones change one digit or letter.
fn accepts(check: fn(&str, &str) -> bool, valid: &[&str], invalid: &[&str]) {
    for number in valid {
        let compact: String = number.chars().filter(char::is_ascii_alphanumeric).collect();
        assert!(check(&compact, number), "should pass: {number}");
    }
    for number in invalid {
        let compact: String = number.chars().filter(char::is_ascii_alphanumeric).collect();
        assert!(!check(&compact, number), "should fail: {number}");
    }
}

#[test]
fn checksums() {
    accepts(
        codice_fiscale,
        &["RSSMRA80A01H501U", "BNCLRA92S48F205O"],
        &["RSSMRA80A01H501V", "RSSMRA80Z01H501U"],
    );
    accepts(
        dni,
        &["12345678Z", "X1234567L", "Y0000000Z"],
        &["12345678A", "X1234567A"],
    );
    accepts(
        nir,
        &["1 85 05 78 006 084 91", "2 69 05 2A 004 001 39"],
        &["1 85 05 78 006 084 92", "5 85 05 78 006 084 91"],
    );
    accepts(
        ahv,
        &["756.1234.5678.97"],
        &["756.1234.5678.98", "757.1234.5678.97"],
    );
    accepts(
        cpf,
        &["529.982.247-25", "111.444.777-35"],
        &["529.982.247-26", "111.111.111-11"],
    );
    accepts(
        belgian,
        &["85.07.30-033.28", "17.07.30-033.84"],
        &["85.07.30-033.29"],
    );
    accepts(
        pesel,
        &["44051401359", "02270803624"],
        &["44051401358", "44131401357"],
    );
    accepts(bsn, &["111222333", "123456782"], &["111222334"]);
    accepts(
        personnummer,
        &["811218-9876", "19811218-9876"],
        &["811218-9877", "811318-9876"],
    );
    accepts(
        nif_pt,
        &["123456789", "501964843"],
        &["123456788", "423456789"],
    );
    accepts(
        aadhaar,
        &["2341 2341 2346"],
        &["2341 2341 2345", "1341 2341 2346"],
    );
    accepts(pan, &["ABCPE1234F"], &["ABCXE1234F", "ABCPE12345"]);
    accepts(sin, &["130 692 544"], &["130 692 545", "830 692 544"]);
    accepts(pps, &["1234567T", "1234567FA", "1234567TW"], &["1234567A"]);
    accepts(
        steuer_id,
        &["86095742719", "65929970489"],
        &["86095742718", "12345678901", "06095742719"],
    );
    accepts(
        nino,
        &["AB 12 34 56 C"],
        &["QQ 12 34 56 C", "AB 12 34 56 E", "GB 12 34 56 A"],
    );
    accepts(nhs, &["943 476 5919"], &["943 476 5918"]);
    accepts(tfn, &["123 456 782", "876 543 210"], &["123 456 789"]);
    accepts(
        china,
        &["11010519491231002X", "440524198001010013"],
        &["11010519491231002Y", "110105194913310028"],
    );
    accepts(my_number, &["123456789018"], &["123456789012"]);
    accepts(hetu, &["131052-308T", "010594Y9032"], &["131052-308U"]);
    accepts(norway, &["01010750160"], &["01010750161"]);
    accepts(turkey, &["10000000146"], &["10000000147", "00000000146"]);
    accepts(romania, &["1800101221144"], &["1800101221145"]);
    accepts(south_africa, &["8001015009087"], &["8001015009088"]);
    accepts(korea, &["800101-1234560"], &["800101-1234561"]);
    accepts(chile, &["12.345.678-5", "11.111.111-1"], &["12.345.678-6"]);
    accepts(curp, &["GODE561231HDFRRN00"], &["GODE561231HDFRRN01"]);
    accepts(czech, &["736028/5163"], &["736028/5164"]);
    accepts(singapore, &["S1234567D", "T1234567J"], &["S1234567E"]);
    accepts(
        argentina,
        &["20-12345678-6"],
        &["20-12345678-5", "21-12345678-6"],
    );
    accepts(estonia, &["37605030299"], &["37605030298"]);
    accepts(greece, &["01017000009"], &["01017000008"]);
    accepts(bulgaria, &["7523169263"], &["7523169264"]);
    accepts(croatia, &["69435151530"], &["69435151531"]);
    accepts(snils, &["112-233-445 95"], &["112-233-445 96"]);
    accepts(inn, &["500100732259"], &["500100732258"]);
    accepts(austria, &["1237010180"], &["1238010180"]);
}

#[test]
fn a_machine_readable_zone_line_is_checked() {
    // ICAO 9303's specimen, second line.
    let line = "L898902C36UTO7408122F1204159ZE184226B<<<<<10";
    assert!(mrz_line(line));
    assert!(!mrz_line(&line.replace("7408122", "7408123")));
}

fn id(text: &str, number: &str) -> bool {
    let start = text.find(number).unwrap();
    national_id(text, start, start + number.len())
}

#[test]
fn keywords_examples_and_shapes() {
    // Distinctive on their own.
    assert!(id(
        "cliente BNCLRA92S48F205O, fattura 12",
        "BNCLRA92S48F205O"
    ));
    assert!(id("CPF 529.982.247-25", "529.982.247-25"));
    // A bare run of digits needs its name nearby.
    assert!(id("Mój PESEL to 44051401359.", "44051401359"));
    assert!(!id("Order 44051401359 shipped.", "44051401359"));
    assert!(id("{\"sin\": \"130 692 544\"}", "130 692 544"));
    // Examples and textbook numbers never count.
    assert!(!id(
        "la letra del DNI, con el ejemplo 12345678Z",
        "12345678Z"
    ));
    assert!(!id(
        "Het testnummer 111222333 voldoet aan de elfproef, BSN",
        "111222333"
    ));
    assert!(!id("BSN 123456782", "123456782"));
    // A generic word lets a number without a known check count.
    assert!(id("Cédula de ciudadanía: 1020304567", "1020304567"));
    assert!(!id(
        "Cédula de ciudadanía expedida el 12.05.2019",
        "12.05.2019"
    ));
}
