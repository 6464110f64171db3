//! The latency table the sequential-call benches print: one row per path,
//! then what the second path adds at p50.

use hdrhistogram::Histogram;

/// Print `rows` (name, histogram in µs) as a markdown table under `title`.
pub fn print_table(title: &str, rows: &[(&str, &Histogram<u64>)]) {
    println!("{title}");
    println!("| path | p50 | p90 | p99 |\n| --- | --- | --- | --- |");
    for (name, h) in rows {
        println!(
            "| {name} | {} | {} | {} |",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99)
        );
    }
    if let [(_, first), (_, second)] = rows {
        let added = second.value_at_quantile(0.5) as i64 - first.value_at_quantile(0.5) as i64;
        println!("added at p50: {added} µs");
    }
}
