use switchboard::guardrails::Phase;
use switchboard::guardrails::pack::builtin_scorer;
use switchboard::guardrails::scorer::{features, hidden_readings};
fn main() {
    let s = builtin_scorer("injection").unwrap();
    for t in [
        "https://shop.example/p/1",
        "https://news.example.com/2024/05/article",
        r#"{"url": "https://shop.example/p/1"}"#,
    ] {
        let p = Phase::ToolArguments;
        let mut rs = vec![t.to_string()];
        rs.extend(hidden_readings(t));
        for r in rs {
            let f = features(&r, p, s.buckets);
            let z: f32 = s.bias + f.iter().map(|(b, v)| s.weights[*b] * v).sum::<f32>();
            println!("{:.3} n={} {r}", 1.0 / (1.0 + (-z).exp()), f.len());
        }
    }
}
