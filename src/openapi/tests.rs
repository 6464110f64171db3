use super::*;
use serde_json::{Value, json};

fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "servers": [{"url": "http://api.test/v1"}],
        "paths": {
            "/users/{user_id}": {
                "parameters": [{"name": "user_id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "get": {
                    "operationId": "get user",
                    "summary": "Read a user",
                    "tags": ["users"],
                    "parameters": [
                        {"name": "fields", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                        {"name": "session", "in": "cookie", "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}}}
                },
                "put": {
                    "tags": ["users", "admin"],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}},
                    "responses": {"204": {"description": "saved"}}
                }
            },
            "/files": {
                "post": {
                    "operationId": "upload",
                    "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {}}}},
                    "responses": {"200": {"description": "ok"}}
                }
            },
            "/trees": {
                "get": {
                    "operationId": "trees",
                    "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}}
                }
            }
        },
        "components": {"schemas": {
            "User": {"type": "object", "properties": {"name": {"type": "string", "nullable": true}}, "required": ["name"]},
            "Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}
        }}
    })
}

#[test]
fn operations_become_tools_with_one_input_schema() {
    let (ops, warnings) = operations(&document(), &Filter::default()).unwrap();
    let names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["trees", "get_user", "put_users_user_id"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("POST /files"), "{warnings:?}");
    let get = &ops[1];
    assert_eq!(get.method, "GET");
    assert_eq!(get.description, "Read a user");
    let properties = get.input_schema["properties"].as_object().unwrap();
    let keys: Vec<&str> = properties.keys().map(String::as_str).collect();
    assert_eq!(keys, ["X-Trace", "fields", "user_id"]);
    assert_eq!(get.input_schema["required"], json!(["user_id"]));
    // 3.0's `nullable` read as JSON Schema; the answer schema resolved.
    let output = get.output_schema.as_ref().unwrap();
    assert_eq!(
        output["properties"]["name"]["type"],
        json!(["string", "null"])
    );
    let put = &ops[2];
    assert_eq!(put.body, Some(true));
    assert_eq!(put.input_schema["required"], json!(["user_id", "body"]));
}

#[test]
fn recursive_schemas_stop_at_a_bounded_depth() {
    let (ops, _) = operations(&document(), &Filter::default()).unwrap();
    let schema = Value::Object(ops[0].output_schema.clone().unwrap()).to_string();
    assert!(schema.len() < 2_000, "{schema}");
}

#[test]
fn filters_pick_operations_by_tag_path_and_id() {
    let only = |filter: Filter| {
        let (ops, _) = operations(&document(), &filter).unwrap();
        ops.into_iter().map(|o| o.name).collect::<Vec<_>>()
    };
    let tags = Filter {
        include_tags: vec!["users".into()],
        exclude_tags: vec!["admin".into()],
        ..Filter::default()
    };
    assert_eq!(only(tags), ["get_user"]);
    let mut paths = globset::GlobSetBuilder::new();
    paths.add(globset::Glob::new("/tree*").unwrap());
    let paths = Filter {
        include_paths: Some(paths.build().unwrap()),
        ..Filter::default()
    };
    assert_eq!(only(paths), ["trees"]);
    let ids = Filter {
        exclude_operations: vec!["get user".into(), "trees".into()],
        ..Filter::default()
    };
    assert_eq!(only(ids), ["put_users_user_id"]);
}

#[test]
fn a_broken_reference_names_its_pointer() {
    let mut doc = document();
    doc["paths"]["/trees"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/Missing"});
    let error = operations(&doc, &Filter::default()).unwrap_err();
    assert!(
        error
            .pointer
            .starts_with("/paths/~1trees/get/responses/200"),
        "{error}"
    );
    assert!(parse_document(r#"{"openapi": "2.0", "paths": {}}"#).is_err());
    assert_eq!(
        parse_document(r#"{"openapi": "3.0.3"}"#)
            .unwrap_err()
            .pointer,
        "/paths"
    );
}

#[test]
fn arguments_become_path_query_header_and_body() {
    crate::install_crypto_provider();
    let (ops, _) = operations(&document(), &Filter::default()).unwrap();
    let api = Api {
        base_url: "http://api.test/v1/".into(),
        auth: Some(ApiAuth {
            placement: AuthPlacement::Query("key".into()),
            secret: crate::shapes::Secret::new("s3cret".into()),
        }),
        client: reqwest::Client::new(),
        timeout: std::time::Duration::from_secs(1),
        max_response_bytes: 1024,
    };
    let arguments = json!({"user_id": "a/b c", "fields": ["x", "y"], "X-Trace": "t1"});
    let request = api
        .request(&ops[1], arguments.as_object().unwrap())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        request.url().as_str(),
        "http://api.test/v1/users/a%2Fb%20c?fields=x&fields=y&key=s3cret"
    );
    assert_eq!(request.headers()["x-trace"], "t1");
    let arguments = json!({"user_id": 7, "body": {"name": "Ada"}});
    let request = api
        .request(&ops[2], arguments.as_object().unwrap())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(request.method(), "PUT");
    assert_eq!(
        request.body().unwrap().as_bytes().unwrap(),
        br#"{"name":"Ada"}"#
    );
}

#[test]
fn names_are_valid_for_function_calling() {
    assert_eq!(
        operations::tool_name(Some("list pets!"), "get", "/p"),
        "list_pets"
    );
    assert_eq!(
        operations::tool_name(None, "get", "/pets/{id}/toys"),
        "get_pets_id_toys"
    );
    assert_eq!(
        operations::tool_name(Some(&"x".repeat(80)), "get", "/").len(),
        64
    );
}

#[test]
fn yaml_descriptions_read_like_json() {
    let yaml = "openapi: 3.0.3\npaths:\n  /pets/{id}:\n    get:\n      operationId: getPet\n      parameters:\n        - {name: id, in: path, required: true, schema: {type: integer}}\n      responses:\n        200:\n          description: ok\n          content:\n            application/json:\n              schema: {type: object, properties: {id: {type: integer}}}\n";
    let document = parse_document(yaml).unwrap();
    let (ops, warnings) = operations(&document, &Filter::default()).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(ops[0].name, "getPet");
    assert!(
        ops[0].output_schema.is_some(),
        "the integer key 200 is a status"
    );
    assert!(parse_document("openapi: [").is_err());
}
