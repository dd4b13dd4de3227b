//! Importing OpenAPI documents: names, schemas with shared `$defs`, parameters in every
//! location, bodies, filters, and what is refused or skipped.

use serde_json::{Value, json};
use switchboard_config::ServerConfig;

use super::*;
use crate::tool::{Body, Location, Style};

const SPEC: &str = r##"
openapi: 3.0.3
info: {title: Company, version: "1"}
servers:
  - url: "http://{host}:9000/v1"
    variables: {host: {default: localhost}}
paths:
  /employees/{employee_id}:
    parameters:
      - {name: employee_id, in: path, required: true, schema: {type: string}}
    get:
      operationId: getEmployee
      summary: One employee
      tags: [people]
      parameters:
        - {name: fields, in: query, schema: {type: array, items: {type: string}}, style: form, explode: false}
        - {name: X-Trace, in: header, schema: {type: string}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Employee"}
    delete:
      operationId: delete employee!
      responses: {"204": {description: gone}}
  /projects/{id}/status:
    post:
      parameters:
        - {$ref: "#/components/parameters/ProjectId"}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/StatusUpdate"}
      responses: {"200": {description: ok}}
  /upload:
    post:
      operationId: upload
      requestBody:
        content: {multipart/form-data: {schema: {type: object}}}
      responses: {"200": {description: ok}}
  /broken:
    get:
      operationId: broken
      parameters: [{$ref: "#/components/parameters/Nope"}]
      responses: {"200": {description: ok}}
  /trees:
    get:
      operationId: getEmployee
      responses:
        "200":
          content: {application/json: {schema: {$ref: "#/components/schemas/Node"}}}
components:
  parameters:
    ProjectId: {name: id, in: path, required: true, schema: {type: string}}
  schemas:
    Employee:
      type: object
      properties:
        id: {type: string}
        manager: {$ref: "#/components/schemas/Employee"}
        salary: {type: number, minimum: 0, exclusiveMinimum: true, nullable: true}
    StatusUpdate:
      type: object
      required: [status]
      properties:
        status: {type: string, enum: [planned, active, done]}
        note: {type: string}
    Node:
      type: object
      properties:
        children: {type: array, items: {$ref: "#/components/schemas/Node"}}
"##;

fn doc() -> Value {
    parse("spec.yaml", SPEC).unwrap()
}

fn imported(cfg: &ServerConfig) -> Imported {
    import(&doc(), cfg).unwrap()
}

fn entry() -> ServerConfig {
    let mut c = ServerConfig::stdio("", vec![]);
    c.command = None;
    c.openapi = Some("spec.yaml".into());
    c
}

fn tool<'a>(i: &'a Imported, name: &str) -> &'a crate::tool::Tool {
    i.tools.iter().find(|t| t.name == name).unwrap_or_else(|| {
        panic!(
            "no tool {name}: {:?}",
            i.tools.iter().map(|t| &t.name).collect::<Vec<_>>()
        )
    })
}

#[test]
fn operations_become_uniquely_named_tools_and_unsupported_ones_are_skipped() {
    let i = imported(&entry());
    let names: Vec<&str> = i.tools.iter().map(|t| t.name.as_str()).collect();
    // Sanitised, from method + path without an operationId, and deduplicated in order.
    assert_eq!(
        names,
        [
            "getEmployee",
            "delete_employee",
            "post_projects_id_status",
            "getEmployee_2"
        ]
    );
    assert_eq!(i.skipped.len(), 2, "{:?}", i.skipped);
    assert!(
        i.skipped
            .iter()
            .any(|s| s.contains("POST /upload") && s.contains("multipart")),
        "{:?}",
        i.skipped
    );
    assert!(
        i.skipped
            .iter()
            .any(|s| s.contains("#/components/parameters/Nope")),
        "{:?}",
        i.skipped
    );
    assert_eq!(i.server_url.as_deref(), Some("http://localhost:9000/v1"));
    // The same document always gives the same names.
    let again: Vec<String> = imported(&entry())
        .tools
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(again, names);
}

#[test]
fn parameters_and_bodies_become_one_input_schema() {
    let i = imported(&entry());
    let get = tool(&i, "getEmployee");
    assert_eq!(get.method, http::Method::GET);
    assert_eq!(get.description.as_deref(), Some("One employee"));
    let s = &get.input_schema;
    assert_eq!(s["required"], json!(["employee_id"]));
    assert_eq!(s["properties"]["fields"]["type"], "array");
    let fields = get.params.iter().find(|p| p.name == "fields").unwrap();
    assert_eq!(
        (fields.location.clone(), fields.style),
        (Location::Query, Style::Form { explode: false })
    );
    assert_eq!(
        get.params
            .iter()
            .find(|p| p.name == "X-Trace")
            .unwrap()
            .location,
        Location::Header
    );
    // The JSON body's properties are arguments; the body is required, so is `status`.
    let post = tool(&i, "post_projects_id_status");
    assert_eq!(post.body, Body::JsonRest);
    assert_eq!(post.input_schema["required"], json!(["id", "status"]));
    assert_eq!(
        post.input_schema["properties"]["status"]["enum"],
        json!(["planned", "active", "done"])
    );
    // GET is read-only, DELETE destructive.
    let del = tool(&i, "delete_employee").listing();
    assert_eq!(del["annotations"]["destructiveHint"], true);
    assert_eq!(get.listing()["annotations"]["readOnlyHint"], true);
}

#[test]
fn shared_and_recursive_definitions_travel_once_under_defs() {
    let i = imported(&entry());
    let get = tool(&i, "getEmployee");
    let out = get.output_schema.as_ref().unwrap();
    assert_eq!(out["$ref"], "#/$defs/Employee");
    let employee = &out["$defs"]["Employee"];
    assert_eq!(
        employee["properties"]["manager"]["$ref"],
        "#/$defs/Employee"
    );
    // OpenAPI 3.0 dialect → 2020-12: nullable and boolean exclusive bounds.
    assert_eq!(
        employee["properties"]["salary"]["type"],
        json!(["number", "null"])
    );
    assert_eq!(employee["properties"]["salary"]["exclusiveMinimum"], 0);
    assert!(employee["properties"]["salary"].get("minimum").is_none());
    let tree = tool(&i, "getEmployee_2");
    let node = &tree.output_schema.as_ref().unwrap()["$defs"]["Node"];
    assert_eq!(
        node["properties"]["children"]["items"]["$ref"],
        "#/$defs/Node"
    );
    // A tool carries only what it reaches.
    assert!(
        tree.output_schema.as_ref().unwrap()["$defs"]
            .get("Employee")
            .is_none()
    );
}

#[test]
fn every_schema_compiles_as_json_schema() {
    let i = imported(&entry());
    for t in &i.tools {
        jsonschema::meta::validate(&t.input_schema)
            .unwrap_or_else(|e| panic!("{}: input {e}", t.name));
        jsonschema::options()
            .build(&t.input_schema)
            .unwrap_or_else(|e| panic!("{}: input {e}", t.name));
        if let Some(o) = &t.output_schema {
            jsonschema::meta::validate(o).unwrap_or_else(|e| panic!("{}: output {e}", t.name));
        }
    }
}

#[test]
fn filters_pick_operations_by_id_tag_or_route() {
    let mut c = entry();
    c.operations = Some(switchboard_config::OperationFilter {
        include: vec!["people".into(), "POST /projects/*".into()],
        exclude: vec!["*delete*".into()],
    });
    let names: Vec<String> = imported(&c).tools.into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["getEmployee", "post_projects_id_status"]);
}

#[test]
fn documents_that_are_not_openapi_3_are_refused_clearly() {
    let e = import(&json!({"swagger": "2.0", "paths": {}}), &entry()).unwrap_err();
    assert!(
        e.contains("Swagger 2.0") && e.contains("swagger2openapi"),
        "{e}"
    );
    let e = import(&json!({"info": {}}), &entry()).unwrap_err();
    assert!(e.contains("/openapi"), "{e}");
    let e = import(&json!({"openapi": "3.1.0"}), &entry()).unwrap_err();
    assert!(e.contains("/paths"), "{e}");
    let e = parse("spec.json", "{\"openapi\": ").unwrap_err();
    assert!(e.starts_with("spec.json: not valid JSON (line 1"), "{e}");
}

#[test]
fn references_to_other_files_are_followed_relative_to_the_file_that_makes_them() {
    let dir = std::env::temp_dir().join(format!("sb-openapi-ext-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("schemas")).unwrap();
    std::fs::write(
        dir.join("api.yaml"),
        r##"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /pets:
    post:
      operationId: addPet
      requestBody:
        content: {application/json: {schema: {$ref: "schemas/pet.yaml"}}}
      responses:
        "200":
          content: {application/json: {schema: {$ref: "common.yaml#/components/schemas/Result"}}}
  /gone:
    get:
      operationId: gone
      responses:
        "200":
          content: {application/json: {schema: {$ref: "missing.yaml#/X"}}}
"##,
    )
    .unwrap();
    std::fs::write(
        dir.join("schemas/pet.yaml"),
        "type: object\nproperties:\n  name: {type: string}\n  tag: {$ref: '#/$defs/Tag'}\n$defs:\n  Tag: {type: string, enum: [cat, dog]}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("common.yaml"),
        "components:\n  schemas:\n    Result:\n      type: object\n      properties:\n        ok: {type: boolean}\n        pet: {$ref: 'schemas/pet.yaml'}\n",
    )
    .unwrap();
    let root = dir.join("api.yaml");
    let doc = parse("api.yaml", &std::fs::read_to_string(&root).unwrap()).unwrap();
    let i = import_with(&doc, &entry(), &Externals::beside(&root)).unwrap();
    let add = tool(&i, "addPet");
    // The body schema is a whole other file: its properties are the arguments, and what they
    // refer to in that file travels along.
    let props = &add.input_schema["properties"];
    assert_eq!(props["name"]["type"], "string");
    assert_eq!(props["tag"]["$ref"], "#/$defs/Tag");
    let defs = &add.input_schema["$defs"];
    assert_eq!(defs["Tag"]["enum"], json!(["cat", "dog"]));
    // The answer's schema in another file refers back to the same pet file: one definition.
    let out = add.output_schema.as_ref().unwrap();
    assert_eq!(out["$ref"], "#/$defs/Result");
    assert_eq!(
        out["$defs"]["Result"]["properties"]["pet"]["$ref"],
        "#/$defs/pet"
    );
    jsonschema::options().build(&add.input_schema).unwrap();
    jsonschema::options().build(out).unwrap();
    // A file that is not there: that operation is skipped, naming the reference and where.
    assert!(
        i.skipped
            .iter()
            .any(|s| s.contains("missing.yaml#/X") && s.contains("/paths/~1gone/get")),
        "{:?}",
        i.skipped
    );
    // A reference out of the document's directory is not followed (the document cannot make
    // the gateway read and publish other files).
    let outside = dir
        .parent()
        .unwrap()
        .join(format!("sb-outside-{}.yaml", std::process::id()));
    std::fs::write(&outside, "type: string\n").unwrap();
    let sneaky = json!({
        "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
        "paths": {"/s": {"get": {"operationId": "sneaky", "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {"x": {"$ref": format!("../{}", outside.file_name().unwrap().to_str().unwrap())}}}}}}}}}}
    });
    let i2 = import_with(&sneaky, &entry(), &Externals::beside(&root)).unwrap();
    assert!(
        i2.tools.is_empty() && i2.skipped.first().is_some_and(|s| s.contains("sb-outside")),
        "{:?} {:?}",
        i2.skipped,
        i2.tools
            .iter()
            .map(|t| t.output_schema.clone())
            .collect::<Vec<_>>()
    );
    let _ = std::fs::remove_file(&outside);
    // Without a directory to resolve against (a fetched document), other files are not read.
    let fetched = import(&doc, &entry()).unwrap();
    assert!(
        fetched.tools.iter().all(|t| t.name != "addPet"),
        "{:?}",
        fetched.skipped
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn styles_default_as_openapi_says_and_connection_headers_never_come_from_arguments() {
    let doc = json!({
        "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
        "paths": {"/s": {"get": {"operationId": "s", "parameters": [
            {"name": "a", "in": "query", "style": "spaceDelimited", "schema": {"type": "array"}},
            {"name": "b", "in": "query", "style": "pipeDelimited", "explode": true, "schema": {"type": "array"}},
            {"name": "c", "in": "query", "schema": {"type": "array"}},
            {"name": "d", "in": "query", "explode": false, "schema": {"type": "array"}},
            {"name": "Host", "in": "header", "schema": {"type": "string"}},
            {"name": "Transfer-Encoding", "in": "header", "schema": {"type": "string"}},
            {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}
        ], "responses": {"200": {"description": "ok"}}}}}
    });
    let i = import(&doc, &entry()).unwrap();
    let t = tool(&i, "s");
    let style = |n: &str| t.params.iter().find(|p| p.name == n).map(|p| p.style);
    assert_eq!(style("a"), Some(Style::SpaceDelimited));
    assert_eq!(style("b"), Some(Style::Form { explode: true }));
    assert_eq!(style("c"), Some(Style::Form { explode: true }));
    assert_eq!(style("d"), Some(Style::Form { explode: false }));
    assert_eq!(style("Host"), None);
    assert_eq!(style("Transfer-Encoding"), None);
    assert!(style("X-Trace").is_some());
    assert_eq!(t.input_schema["additionalProperties"], false);
}

#[test]
fn responses_name_tools_by_their_listed_name_or_their_operation_id() {
    let mut c = entry();
    c.responses.insert("getEmployee".into(), "{id}".into());
    c.responses.insert("delete employee!".into(), ".".into());
    let i = imported(&c);
    let get = tool(&i, "getEmployee");
    assert_eq!(get.shaper.as_ref().map(|s| s.code()), Some("{id}"));
    // A reshaped answer no longer fits the document's schema: no outputSchema then.
    assert!(get.output_schema.is_none());
    assert_eq!(
        tool(&i, "delete_employee")
            .shaper
            .as_ref()
            .map(|s| s.code()),
        Some(".")
    );
    // Both operations the document calls getEmployee are named by it.
    assert!(tool(&i, "getEmployee_2").shaper.is_some());
    assert!(tool(&i, "post_projects_id_status").shaper.is_none());
    // A jq expression that does not compile: the operation is skipped, naming the key.
    c.responses.insert("getEmployee".into(), "{id,".into());
    let i = imported(&c);
    assert!(
        i.skipped
            .iter()
            .any(|s| s.contains("responses.getEmployee") && s.contains("does not parse")),
        "{:?}",
        i.skipped
    );
}
