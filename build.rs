// The data folders (provider catalogs, guardrail packs and scorers, prompt
// templates) are embedded into the binary with `include_dir!`, which cannot
// tell cargo which files it read: rebuild when any of them changes.
fn main() {
    for folder in ["providers", "guardrails", "prompts"] {
        println!("cargo:rerun-if-changed={folder}");
    }
}
