//! `cargo xtask codegen [--check]`: the files generated from the wire types and the spec.
//!
//! - `docs/chat-request.schema.json`: the JSON Schema of [`ChatRequest`] (schemars);
//! - `docs/spec-coverage.md`: every property of OpenAI's chat-completions request, response and
//!   chunk schemas (the subset kept in `xtask/spec/`), and the typed field it lands in, or the
//!   reviewed reason it has none (`xtask/spec/reviewed.json`). An unmapped property fails.
//!
//! `--check` regenerates in memory and fails, naming the command, when a committed file differs
//! (CI runs it). `--refresh-spec <openapi.json>` re-extracts the subset from a whole spec.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use gptproto_proto::wire::{ChatCompletion, ChatCompletionChunk, ChatRequest};
use serde_json::{Map, Value, json};

use crate::workspace::project_root;

/// The three schemas covered, the spec's name and ours.
const ROOTS: [(&str, &str); 3] = [
    ("CreateChatCompletionRequest", "request"),
    ("CreateChatCompletionResponse", "response"),
    ("CreateChatCompletionStreamResponse", "chunk"),
];

const SPEC: &str = "xtask/spec/openai-chat-completions.json";
const REVIEWED: &str = "xtask/spec/reviewed.json";
const REQUEST_SCHEMA: &str = "docs/chat-request.schema.json";
const COVERAGE: &str = "docs/spec-coverage.md";

/// How deep a spec path may go (the spec's schemas are not recursive where we look, but a
/// free-form schema could be).
const MAX_DEPTH: usize = 12;

pub(crate) fn command(args: &[String]) -> Result<(), String> {
    match args {
        [] => generate(false),
        [flag] if flag == "--check" => generate(true),
        [flag, spec] if flag == "--refresh-spec" => refresh_spec(Path::new(spec)),
        _ => Err("usage: cargo xtask codegen [--check | --refresh-spec <openapi.json>]".to_owned()),
    }
}

fn generate(check: bool) -> Result<(), String> {
    let spec = read_json(&project_root().join(SPEC))?;
    let reviewed = read_json(&project_root().join(REVIEWED))?;
    let request = schemars::schema_for!(ChatRequest).to_value();
    let mut files = vec![
        (REQUEST_SCHEMA.to_owned(), request_schema(request.clone())?),
        (COVERAGE.to_owned(), coverage(&spec, &reviewed, request)?),
    ];
    files.extend(manual_pages()?);
    let mut stale = Vec::new();
    let mut written = 0;
    for (path, contents) in &files {
        let (path, contents) = (path.as_str(), contents.as_str());
        let full = project_root().join(path);
        let current = std::fs::read_to_string(&full).unwrap_or_default();
        if current == contents {
            continue;
        }
        if check {
            stale.push(path.to_owned());
        } else {
            std::fs::write(&full, contents)
                .map_err(|error| format!("cannot write {}: {error}", full.display()))?;
            eprintln!("xtask: wrote {path}");
            written += 1;
        }
    }
    if stale.is_empty() {
        if written == 0 {
            eprintln!("xtask: generated files are up to date");
        }
        Ok(())
    } else {
        Err(format!(
            "generated files are stale: {}; run `cargo xtask codegen` and commit the result",
            stale.join(", ")
        ))
    }
}

/// Where the CLI's manual pages go.
const MAN_DIR: &str = "docs/man";

/// The CLI's manual pages (clap_mangen, written by the binary's hidden `man` command), as
/// (path, contents); a page in docs/man/ that the CLI no longer makes is an error.
fn manual_pages() -> Result<Vec<(String, String)>, String> {
    let cli = crate::workspace::build_cli()?;
    let out = crate::workspace::target_dir().join("xtask-man");
    let _ = std::fs::remove_dir_all(&out);
    // Without the caller's environment: the pages show defaults, not this shell's variables.
    let status = std::process::Command::new(&cli)
        .arg("man")
        .arg(&out)
        .env_clear()
        .status()
        .map_err(|error| format!("cannot run {}: {error}", cli.display()))?;
    if !status.success() {
        return Err(format!("{} man failed: {status}", cli.display()));
    }
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(&out).map_err(|error| format!("{}: {error}", out.display()))? {
        let path = entry.map_err(|error| error.to_string())?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let contents = std::fs::read_to_string(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        pages.push((format!("{MAN_DIR}/{name}"), contents));
    }
    pages.sort();
    let committed = project_root().join(MAN_DIR);
    if let Ok(entries) = std::fs::read_dir(&committed) {
        for entry in entries.flatten() {
            let name = format!("{MAN_DIR}/{}", entry.file_name().to_string_lossy());
            if !pages.iter().any(|(path, _)| *path == name) {
                return Err(format!("{name} is not a page the CLI makes: remove it"));
            }
        }
    }
    std::fs::create_dir_all(&committed)
        .map_err(|error| format!("cannot create {}: {error}", committed.display()))?;
    Ok(pages)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a Value serializes");
    text.push('\n');
    text
}

/// The JSON Schema of the request body, as the wire types (de)serialize it.
fn request_schema(mut schema: Value) -> Result<String, String> {
    first_paragraphs(&mut schema);
    let object = schema
        .as_object_mut()
        .ok_or("the schema is not an object")?;
    object.insert(
        "$comment".to_owned(),
        json!("Generated by `cargo xtask codegen` from gptproto_proto::wire::ChatRequest; do not edit."),
    );
    Ok(pretty(&schema))
}

/// Descriptions cut to their first paragraph: the doc comments' examples are Rust, not schema.
fn first_paragraphs(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                match value {
                    Value::String(text) if key == "description" => {
                        if let Some(end) = text.find("\n\n") {
                            text.truncate(end);
                        }
                    }
                    _ => first_paragraphs(value),
                }
            }
        }
        Value::Array(values) => values.iter_mut().for_each(first_paragraphs),
        _ => {}
    }
}

/// `--refresh-spec`: the chat-completions schemas of a whole OpenAPI document, and every schema
/// they refer to, with the document's attribution.
fn refresh_spec(source: &Path) -> Result<(), String> {
    let whole = read_json(source)?;
    let schemas = whole["components"]["schemas"]
        .as_object()
        .ok_or("no components.schemas in the spec")?;
    let mut kept = BTreeSet::new();
    let mut pending: Vec<String> = ROOTS.iter().map(|(name, _)| (*name).to_owned()).collect();
    while let Some(name) = pending.pop() {
        if !kept.insert(name.clone()) {
            continue;
        }
        let schema = schemas
            .get(&name)
            .ok_or_else(|| format!("the spec refers to a missing schema {name}"))?;
        collect_refs(schema, &mut pending);
    }
    let subset: Map<String, Value> = kept
        .iter()
        .map(|name| (name.clone(), schemas[name].clone()))
        .collect();
    let document = json!({
        "x-gptproto": {
            "what": "The chat-completions subset of OpenAI's OpenAPI document: the request, response and stream chunk schemas and every schema they refer to. Extracted by `cargo xtask codegen --refresh-spec`; read by `cargo xtask codegen`.",
            "source": "https://github.com/openai/openai-openapi",
            "title": whole["info"]["title"],
            "version": whole["info"]["version"],
            "license": whole["info"]["license"],
            "copyright": "OpenAI; used under the MIT license."
        },
        "openapi": whole["openapi"],
        "components": {"schemas": subset}
    });
    let path = project_root().join(SPEC);
    std::fs::create_dir_all(path.parent().expect("a file in a folder"))
        .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
    std::fs::write(&path, pretty(&document))
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    eprintln!("xtask: wrote {SPEC} ({} schemas)", kept.len());
    Ok(())
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value.as_str()) {
                    ("$ref", Some(target)) => into.push(ref_name(target).to_owned()),
                    _ => collect_refs(value, into),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|value| collect_refs(value, into)),
        _ => {}
    }
}

/// The definition a `$ref` names (`#/components/schemas/X`, `#/$defs/X`: `X`).
fn ref_name(target: &str) -> &str {
    target.rsplit('/').next().unwrap_or(target)
}

/// A set of alternative schemas at one place of a document (the branches of `anyOf`, `oneOf`
/// and `allOf` flattened), each with the name of the definition it came from.
#[derive(Clone, Default)]
struct Node<'a> {
    schemas: Vec<(&'a Value, &'a str)>,
}

/// A schema document: where `$ref`s point.
struct Document<'a> {
    definitions: &'a Map<String, Value>,
}

impl<'a> Document<'a> {
    /// `schema` with its `$ref`s and combinators expanded.
    fn node(&self, schema: &'a Value, owner: &'a str) -> Node<'a> {
        let mut node = Node::default();
        self.expand(schema, owner, &mut node, 0);
        node
    }

    fn expand(&self, schema: &'a Value, owner: &'a str, node: &mut Node<'a>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        if let Some(target) = schema.get("$ref").and_then(Value::as_str)
            && let Some((name, schema)) = self.definitions.get_key_value(ref_name(target))
        {
            self.expand(schema, name, node, depth + 1);
        }
        node.schemas.push((schema, owner));
        for combinator in ["allOf", "anyOf", "oneOf"] {
            for branch in schema
                .get(combinator)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.expand(branch, owner, node, depth + 1);
            }
        }
    }

    /// The properties of `node`, each with the alternatives it has across branches.
    fn properties(&self, node: &Node<'a>) -> BTreeMap<&'a str, (Node<'a>, &'a str)> {
        let mut properties: BTreeMap<&str, (Node<'a>, &str)> = BTreeMap::new();
        for &(schema, owner) in &node.schemas {
            for (name, property) in schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let expanded = self.node(property, owner);
                let entry = properties
                    .entry(name.as_str())
                    .or_insert_with(|| (Node::default(), owner));
                entry.0.schemas.extend(expanded.schemas);
            }
        }
        properties
    }

    /// The element schemas of the arrays `node` allows.
    fn items(&self, node: &Node<'a>) -> Option<Node<'a>> {
        let mut items = Node::default();
        for &(schema, owner) in &node.schemas {
            if let Some(item) = schema.get("items") {
                items.schemas.extend(self.node(item, owner).schemas);
            }
        }
        (!items.schemas.is_empty()).then_some(items)
    }
}

/// A spec property and where it lands in our types: a typed field (`Type.field`), or none
/// (it would land in an `extra` map, or inside a `Value`).
struct Row {
    path: String,
    field: Option<String>,
}

/// Walks the spec's `node` and ours side by side, one row per spec property; `[]` steps into
/// the elements of an array.
fn walk<'a>(
    spec: &Document<'a>,
    ours: &Document<'a>,
    spec_node: &Node<'a>,
    our_node: Option<&Node<'a>>,
    path: &str,
    rows: &mut Vec<Row>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    // A property our schema does not name lands in an `extra` map, or inside a
    // `serde_json::Value`: unmapped either way.
    let our_properties = our_node
        .map(|node| ours.properties(node))
        .unwrap_or_default();
    for (name, (spec_child, _)) in spec.properties(spec_node) {
        let child_path = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        let our_child = our_properties.get(name);
        rows.push(Row {
            path: child_path.clone(),
            field: our_child.map(|(_, owner)| format!("{owner}.{name}")),
        });
        let our_child = our_child.map(|(node, _)| node);
        walk(
            spec,
            ours,
            &spec_child,
            our_child,
            &child_path,
            rows,
            depth + 1,
        );
    }
    if let Some(spec_items) = spec.items(spec_node) {
        let our_items = our_node.and_then(|node| ours.items(node));
        let items_path = format!("{path}[]");
        walk(
            spec,
            ours,
            &spec_items,
            our_items.as_ref(),
            &items_path,
            rows,
            depth + 1,
        );
    }
}

/// The coverage report.
fn coverage(spec: &Value, reviewed: &Value, request: Value) -> Result<String, String> {
    let spec_definitions = spec["components"]["schemas"]
        .as_object()
        .ok_or("the spec subset has no components.schemas")?;
    let reviewed = reviewed
        .as_object()
        .ok_or("the reviewed list is not an object of path: reason")?;
    let spec_document = Document {
        definitions: spec_definitions,
    };
    let our_schemas = [
        ("ChatRequest", request),
        (
            "ChatCompletion",
            schemars::schema_for!(ChatCompletion).to_value(),
        ),
        (
            "ChatCompletionChunk",
            schemars::schema_for!(ChatCompletionChunk).to_value(),
        ),
    ];

    let mut report = String::new();
    let mut body = String::new();
    let mut unmapped = Vec::new();
    let mut used_reviews = BTreeSet::new();
    let (mut total, mut typed, mut by_review) = (0, 0, 0);
    for ((spec_name, label), (our_name, our_schema)) in ROOTS.iter().zip(&our_schemas) {
        let empty = Map::new();
        let our_definitions = our_schema
            .get("$defs")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let our_document = Document {
            definitions: our_definitions,
        };
        let spec_root = spec_definitions
            .get(*spec_name)
            .ok_or_else(|| format!("the spec subset has no {spec_name}"))?;
        let mut rows = Vec::new();
        walk(
            &spec_document,
            &our_document,
            &spec_document.node(spec_root, spec_name),
            Some(&our_document.node(our_schema, our_name)),
            "",
            &mut rows,
            0,
        );
        writeln!(
            body,
            "\n## {label}: `{spec_name}` → `{our_name}`\n\n| property | typed field, or why none |\n|---|---|"
        )
        .expect("a String takes writes");
        for row in rows {
            total += 1;
            let qualified = format!("{label}.{}", row.path);
            let cell = match row.field {
                Some(field) => {
                    typed += 1;
                    format!("`{field}`")
                }
                None => match review_for(reviewed, &qualified) {
                    Some((key, reason)) => {
                        by_review += 1;
                        used_reviews.insert(key);
                        format!("reviewed: {reason}")
                    }
                    None => {
                        unmapped.push(qualified.clone());
                        "**unmapped**".to_owned()
                    }
                },
            };
            writeln!(body, "| `{}` | {cell} |", row.path).expect("a String takes writes");
        }
    }
    let unused: Vec<&str> = reviewed
        .keys()
        .map(String::as_str)
        .filter(|key| !used_reviews.contains(*key))
        .collect();
    if !unmapped.is_empty() || !unused.is_empty() {
        let mut why = String::new();
        if !unmapped.is_empty() {
            let _ = write!(
                why,
                "{} spec properties have no typed field and no reviewed reason in {REVIEWED}: {}",
                unmapped.len(),
                unmapped.join(", ")
            );
        }
        if !unused.is_empty() {
            let _ = write!(
                why,
                "{}entries of {REVIEWED} cover no unmapped property (typed now, or gone from the spec): {}",
                if why.is_empty() { "" } else { "; " },
                unused.join(", ")
            );
        }
        return Err(why);
    }
    let version = spec["x-gptproto"]["version"].as_str().unwrap_or("?");
    writeln!(
        report,
        "<!-- Generated by `cargo xtask codegen`; do not edit. -->\n\
         # Coverage of OpenAI's chat-completions schemas\n\n\
         Every property of the request, response and stream-chunk schemas of OpenAI's OpenAPI \
         document (version {version}, MIT license; the subset kept in `{SPEC}`), and the typed \
         field of `gptproto_proto::wire` it (de)serializes into, or the reviewed reason it has none \
         (`{REVIEWED}`: such a property is still sent and kept, as JSON, in an `extra` map or a \
         `serde_json::Value` field). Properties of alternatives (`anyOf`/`oneOf`) are merged by \
         name; `[]` is an array's element.\n\n\
         **{total} properties: {typed} typed, {by_review} reviewed, 0 unmapped.**"
    )
    .expect("a String takes writes");
    report.push_str(&body);
    Ok(report)
}

/// The reviewed entry covering `path`: the path itself or one of its ancestors.
fn review_for<'a>(reviewed: &'a Map<String, Value>, path: &str) -> Option<(&'a str, &'a str)> {
    let mut prefix = path;
    loop {
        if let Some((key, reason)) = reviewed.get_key_value(prefix) {
            return Some((key, reason.as_str().unwrap_or("")));
        }
        let cut = prefix.rfind(['.', '['])?;
        prefix = &prefix[..cut];
    }
}

#[cfg(test)]
mod tests {
    /// The committed generated files are what `cargo xtask codegen` writes; the error names
    /// the command to run when they are not.
    #[test]
    fn generated_files_are_current() {
        if let Err(stale) = super::generate(true) {
            panic!("{stale}");
        }
    }

    /// Every key serde writes for a request with every kind of field set is named by the
    /// published schema at its place (extra fields are not used, so none may be unnamed).
    #[test]
    fn the_request_schema_names_everything_serde_writes() {
        use gptproto_proto::wire::{
            ContentPart, Message, ReasoningEffort, ResponseFormat, ServiceTier, Tool, ToolCall,
            ToolChoice,
        };
        use serde_json::Value;

        use super::{Document, Node};

        let request = gptproto_proto::ChatRequest::new("qwen-turbo")
            .system("Be brief.")
            .developer("Use metric units.")
            .message(Message::user(vec![
                ContentPart::text("What is this?"),
                ContentPart::image_url("https://example.com/a.png"),
                ContentPart::input_audio("AAAA", "wav"),
                ContentPart::file_data("JVBERi0=", "a.pdf"),
            ]))
            .message(Message::assistant_tool_calls(vec![ToolCall::function(
                "c1", "f", "{}",
            )]))
            .tool_result("c1", "42")
            .message(Message::user("thanks").with_name("ada"))
            .max_tokens(10)
            .max_completion_tokens(20)
            .n(2)
            .temperature(0.5)
            .top_p(0.9)
            .stop(["x", "y"])
            .seed(7)
            .frequency_penalty(0.1)
            .presence_penalty(0.2)
            .logprobs(3)
            .response_format(ResponseFormat::json_schema(
                "s",
                serde_json::json!({"type": "object"}),
            ))
            .tool(
                Tool::function("f")
                    .description("d")
                    .parameters(serde_json::json!({}))
                    .strict(true),
            )
            .tool_choice(ToolChoice::Function("f".into()))
            .parallel_tool_calls(false)
            .stream(true)
            .user_id("u")
            .metadata("k", "v")
            .service_tier(ServiceTier::Flex)
            .reasoning_effort(ReasoningEffort::Low)
            .enable_thinking(true)
            .thinking_budget(100)
            .enable_search(true);
        let json = serde_json::to_value(&request).unwrap();
        let schema = schemars::schema_for!(gptproto_proto::ChatRequest).to_value();
        let definitions = schema["$defs"].as_object().unwrap().clone();
        let document = Document {
            definitions: &definitions,
        };
        let mut unnamed = Vec::new();
        named(
            &document,
            &document.node(&schema, "ChatRequest"),
            &json,
            "",
            &mut unnamed,
        );
        assert!(
            unnamed.is_empty(),
            "serde writes keys the schema does not name: {unnamed:?}"
        );

        fn named<'a>(
            document: &Document<'a>,
            node: &Node<'a>,
            value: &Value,
            path: &str,
            unnamed: &mut Vec<String>,
        ) {
            let free = node.schemas.iter().any(|(schema, _)| {
                schema.as_bool() == Some(true)
                    || schema.as_object().is_some_and(|object| {
                        ![
                            "type",
                            "properties",
                            "items",
                            "anyOf",
                            "oneOf",
                            "allOf",
                            "$ref",
                            "enum",
                            "const",
                        ]
                        .iter()
                        .any(|key| object.contains_key(*key))
                    })
            });
            if free {
                return;
            }
            match value {
                Value::Object(object) => {
                    let properties = document.properties(node);
                    for (key, member) in object {
                        match properties.get(key.as_str()) {
                            Some((child, _)) => {
                                named(document, child, member, &format!("{path}.{key}"), unnamed);
                            }
                            // A typed map (`additionalProperties` a schema) names its keys'
                            // values; `additionalProperties: true` is the `extra` map, unused here.
                            None => match node.schemas.iter().find_map(|(schema, owner)| {
                                schema
                                    .get("additionalProperties")
                                    .filter(|map| map.is_object())
                                    .map(|map| (map, *owner))
                            }) {
                                Some((map, owner)) => {
                                    let child = document.node(map, owner);
                                    named(
                                        document,
                                        &child,
                                        member,
                                        &format!("{path}.{key}"),
                                        unnamed,
                                    );
                                }
                                None => unnamed.push(format!("{path}.{key}")),
                            },
                        }
                    }
                }
                Value::Array(items) => {
                    if let Some(item) = document.items(node) {
                        for (i, member) in items.iter().enumerate() {
                            named(document, &item, member, &format!("{path}[{i}]"), unnamed);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_review_covers_its_path_and_what_is_below() {
        let reviewed = serde_json::json!({"request.audio": "why"});
        let reviewed = reviewed.as_object().unwrap();
        assert!(super::review_for(reviewed, "request.audio").is_some());
        assert!(super::review_for(reviewed, "request.audio.voice.id").is_some());
        assert!(super::review_for(reviewed, "request.audio_x").is_none());
        assert!(super::review_for(reviewed, "request").is_none());
    }
}
