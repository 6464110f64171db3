//! The binary's own commands: `validate` and `hash-key`.

use std::process::Command;

fn switchboard(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run switchboard");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn validate_accepts_the_repository_and_its_example() {
    let (ok, stdout, stderr) = switchboard(&["validate"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("valid"));
}

#[test]
fn validate_names_file_and_key_path_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:1\"\n[[teams]]\nid = \"a\"\n[[keys]]\nid = \"k\"\nteam = \"nobody\"\nhash = \"sha256:00\"\n[aliases]\nx = \"nope/model\"\n",
    )
    .unwrap();
    let (ok, _, stderr) = switchboard(&["validate", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("bad.toml: keys[0].team"), "{stderr}");
    assert!(stderr.contains("bad.toml: keys[0].hash"), "{stderr}");

    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:1\"\nworkers = 4\n").unwrap();
    let (ok, _, stderr) = switchboard(&["validate", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("server.workers") && stderr.contains("unknown field"),
        "{stderr}"
    );

    std::fs::write(&path, "[aliases]\nx = \"nope/model\"\n").unwrap();
    let (ok, _, stderr) = switchboard(&["validate", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("aliases.x"), "{stderr}");
}

#[test]
fn serve_refuses_a_bad_config_without_starting() {
    let (ok, stdout, stderr) = switchboard(&["serve", "--listen", "not-an-address"]);
    assert!(!ok);
    assert!(stdout.is_empty());
    assert!(stderr.contains("server.listen"), "{stderr}");
}

#[test]
fn hash_key_prints_the_config_form() {
    let (ok, stdout, _) = switchboard(&["hash-key", "sk-switchboard-local"]);
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        "sha256:cf98bdf93a3bb80707fdf1666027a4d71e71ef9d532d3ff970afabcc79194eaa"
    );
}

#[test]
fn validate_creates_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    let ledger = dir.path().join("ledger.sqlite");
    std::fs::write(
        &config,
        format!("[quota]\nledger = {:?}\n", ledger.to_str().unwrap()),
    )
    .unwrap();
    let (ok, _, stderr) = switchboard(&["validate", "--config", config.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(!ledger.exists(), "validate created the ledger file");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name())
        .collect();
    assert_eq!(files, ["switchboard.toml"], "validate created files");
}
