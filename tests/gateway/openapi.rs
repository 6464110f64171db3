//! REST APIs as MCP tools: a large public description mapped whole, a bad
//! description reported by `switchboard validate` with its JSON pointer.
//! (The calls themselves run through the binary against a real FastAPI
//! service in `tests/e2e/test_openapi.py`.)

use std::time::Instant;
use switchboard::openapi::{Filter, operations, parse_document};

/// GitHub's REST API description, fetched by `scripts/openapi-samples`.
fn github_description() -> Option<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = std::process::Command::new(format!("{root}/scripts/openapi-samples")).output();
    let path = match output {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("OPENAPI_GITHUB=").map(str::to_owned)),
        _ => None,
    };
    match path {
        Some(path) => Some(std::fs::read_to_string(path).expect("the fetched description reads")),
        None => {
            crate::harness::missing_dependency(
                "GitHub's OpenAPI description",
                "scripts/openapi-samples, which needs npm",
            );
            None
        }
    }
}

#[test]
fn every_operation_of_a_large_public_description_is_a_valid_tool() {
    let Some(text) = github_description() else {
        return;
    };
    let started = Instant::now();
    let document = parse_document(&text).expect("GitHub's description is OpenAPI 3");
    let (tools, skipped) =
        operations(&document, &Filter::default()).expect("its references resolve");
    let took = started.elapsed();
    let declared: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .iter()
            .filter(|m| item.get(**m).is_some())
            .count()
        })
        .sum();
    println!(
        "GitHub REST API: {} of {declared} operations are tools, {} skipped, mapped in {took:?}",
        tools.len(),
        skipped.len()
    );
    for reason in &skipped {
        println!("  skipped: {reason}");
    }
    assert_eq!(tools.len() + skipped.len(), declared);
    assert!(tools.len() >= 1_000, "{} tools", tools.len());
    let mut names = std::collections::HashSet::new();
    for tool in &tools {
        assert!(
            !tool.name.is_empty()
                && tool.name.len() <= 64
                && tool
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{}",
            tool.name
        );
        assert!(names.insert(tool.name.clone()), "{} twice", tool.name);
        let schema = serde_json::Value::Object(tool.input_schema.clone());
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|error| panic!("{}: its schema does not compile: {error}", tool.name));
    }
}

#[test]
fn validate_names_the_description_and_the_pointer_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let described = dir.path().join("api.json");
    std::fs::write(
        &described,
        r##"{"openapi": "3.1.0", "paths": {"/a": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Gone"}}}}}}}}}"##,
    )
    .unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[[mcp.servers]]\nname = \"api\"\nopenapi = \"{}\"\nbase_url = \"http://127.0.0.1:9\"\n",
            described.display()
        ),
    )
    .unwrap();
    let validate = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["validate", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = validate();
    assert!(stderr.contains("mcp.servers[0].openapi"), "{stderr}");
    assert!(stderr.contains("api.json"), "{stderr}");
    assert!(
        stderr.contains("/paths/~1a/get/responses/200/content/application~1json/schema/$ref"),
        "{stderr}"
    );

    std::fs::write(&described, r#"{"openapi": "2.0", "paths": {}}"#).unwrap();
    let stderr = validate();
    assert!(stderr.contains("at /openapi"), "{stderr}");
}
