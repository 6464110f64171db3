//! Throwaway: time each rule of a pack file alone.
use switchboard::guardrails::pack::{RulePack, decode_and_check};
use switchboard::guardrails::{Engine, Overrides, Phase};

fn time(engine: &Engine, text: &str) -> f64 {
    let mut samples: Vec<u128> = (0..101)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(engine.check(Phase::Input, std::hint::black_box(text)));
            t.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    samples[50] as f64 / 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let text = std::fs::read_to_string(path).unwrap();
    let pack: RulePack = decode_and_check(path, "pii", &text).unwrap();
    let dev = std::fs::read_to_string("tests/eval/guardrails/dev.jsonl").unwrap();
    let cases = switchboard::guardrails::evaluation::parse(&dev).unwrap();
    let paragraph = "Hi team, the nightly export job failed again after the 2.18 upgrade. The stack trace points at the CSV writer: it opens the file before checking the destination folder exists, so on a fresh node it throws and the retry loop gives up after three attempts. Order 100234987 and ticket ENG-48213 have the details. Could you suggest a fix in Rust? fn export(rows: &[Row], path: &Path) -> io::Result<()> { let mut w = csv::Writer::from_path(path)?; for r in rows { w.serialize(r)?; } w.flush() }\n";
    let mut english = String::new();
    while english.len() + paragraph.len() <= 4096 {
        english.push_str(paragraph);
    }
    let mut mixed = String::new();
    for c in cases.iter().rev().cycle() {
        if mixed.len() + c.text.len() > 4096 {
            break;
        }
        mixed.push_str(&c.text);
        mixed.push('\n');
    }
    let all = Engine::build(&[&pack], &Overrides::default(), None, None).unwrap();
    println!(
        "ALL english {:.1} mixed {:.1}",
        time(&all, &english),
        time(&all, &mixed)
    );
    for rule in &pack.rules {
        for (i, p) in rule.patterns.iter().enumerate() {
            let mut one = pack.clone();
            let mut r = rule.clone();
            r.patterns = vec![p.clone()];
            one.rules = vec![r];
            let e = Engine::build(&[&one], &Overrides::default(), None, None).unwrap();
            println!(
                "{} [{}] english {:.1} mixed {:.1}",
                rule.id,
                i,
                time(&e, &english),
                time(&e, &mixed)
            );
        }
    }
}
