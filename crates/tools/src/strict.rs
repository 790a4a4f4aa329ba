//! The official SDKs' strict transformation of a JSON Schema (openai-python's
//! `to_strict_json_schema`): `additionalProperties: false` on every object, every property
//! required (the optional ones made nullable), a single-element `allOf` inlined,
//! `default` removed, a `$ref` with siblings inlined; and `oneOf` as `anyOf`, which strict
//! mode takes, and no `format` on numbers (schemars' `uint32`, `double`, which strict mode
//! does not know).

use serde_json::{Map, Value, json};

/// Where in the schema (a JSON pointer) and why it cannot be strict.
pub(crate) type StrictError = (String, String);

/// Makes `root` strict in place.
pub(crate) fn make_strict(root: &mut Value) -> Result<(), StrictError> {
    let definitions = root.get("$defs").cloned().unwrap_or(Value::Null);
    strict_at(root, "", &definitions)
}

fn strict_at(schema: &mut Value, pointer: &str, definitions: &Value) -> Result<(), StrictError> {
    let Value::Object(object) = schema else {
        return Ok(());
    };
    if let Some(Value::Object(defs)) = object.get_mut("$defs") {
        for (name, def) in defs.iter_mut() {
            strict_at(def, &child(pointer, &["$defs", name]), definitions)?;
        }
    }
    if object.contains_key("$ref") && object.len() > 1 {
        let target = object.remove("$ref").expect("checked");
        let resolved = resolve(&target, definitions).ok_or_else(|| {
            (
                pointer.to_owned(),
                format!("$ref {target} does not resolve"),
            )
        })?;
        // The siblings win, as in the official SDK.
        for (key, value) in resolved {
            object.entry(key).or_insert(value);
        }
        return strict_at(schema, pointer, definitions);
    }
    // The official SDK removes `default: null`; every default goes here, since every property
    // is required in strict mode and servers reject keywords they do not support.
    object.remove("default");
    // schemars annotates numbers with formats (`uint32`, `int64`, `double`) that strict mode
    // does not know; the range (`minimum`) says what matters and stays.
    if is_numeric(object) {
        object.remove("format");
    }
    if let Some(one_of) = object.remove("oneOf") {
        if object.contains_key("anyOf") {
            return Err((pointer.to_owned(), "both oneOf and anyOf".to_owned()));
        }
        object.insert("anyOf".to_owned(), one_of);
    }
    if let Some(Value::Array(all_of)) = object.get("allOf")
        && all_of.len() == 1
    {
        let Some(Value::Array(mut all_of)) = object.remove("allOf") else {
            unreachable!("checked above")
        };
        if let Value::Object(only) = all_of.remove(0) {
            for (key, value) in only {
                object.entry(key).or_insert(value);
            }
        }
        return strict_at(schema, pointer, definitions);
    }
    if is_object(object) {
        close_object(object, pointer, definitions)?;
    }
    if let Some(items) = object.get_mut("items") {
        strict_at(items, &child(pointer, &["items"]), definitions)?;
    }
    for combinator in ["anyOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(branches)) = object.get_mut(combinator) {
            for (i, branch) in branches.iter_mut().enumerate() {
                strict_at(
                    branch,
                    &child(pointer, &[combinator, &i.to_string()]),
                    definitions,
                )?;
            }
        }
    }
    Ok(())
}

/// `additionalProperties: false`, and every property required (nullable when it was not).
fn close_object(
    object: &mut Map<String, Value>,
    pointer: &str,
    definitions: &Value,
) -> Result<(), StrictError> {
    let has_properties = object
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|properties| !properties.is_empty());
    match object.get("additionalProperties") {
        None | Some(Value::Bool(false)) => {}
        Some(_) if !has_properties => {
            return Err((
                pointer.to_owned(),
                "a map with free-form keys (`additionalProperties`), which strict mode cannot express; use a struct, or the non-strict form".to_owned(),
            ));
        }
        Some(_) => {
            return Err((
                pointer.to_owned(),
                "properties beyond the declared ones (`additionalProperties`, e.g. a `#[serde(flatten)]` map), which strict mode cannot express; use the non-strict form".to_owned(),
            ));
        }
    }
    object.insert("additionalProperties".to_owned(), Value::Bool(false));
    let required: Vec<String> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut all = Vec::new();
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            strict_at(
                property,
                &child(pointer, &["properties", name]),
                definitions,
            )?;
            if !required.contains(name) {
                make_nullable(property);
            }
            all.push(Value::String(name.clone()));
        }
    }
    object.insert("required".to_owned(), Value::Array(all));
    Ok(())
}

fn is_numeric(object: &Map<String, Value>) -> bool {
    let numeric = |kind: &Value| kind == "integer" || kind == "number";
    match object.get("type") {
        Some(Value::Array(kinds)) => kinds.iter().any(numeric),
        Some(kind) => numeric(kind),
        None => false,
    }
}

fn is_object(object: &Map<String, Value>) -> bool {
    match object.get("type") {
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
        _ => object.contains_key("properties"),
    }
}

/// Lets `schema` also accept `null`.
fn make_nullable(schema: &mut Value) {
    if accepts_null(schema) {
        return;
    }
    let Value::Object(object) = schema else {
        return;
    };
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        values.push(Value::Null);
    }
    let has_const = object.contains_key("const");
    match object.get_mut("type") {
        Some(Value::String(kind)) if !has_const => {
            let kind = std::mem::take(kind);
            object.insert("type".to_owned(), json!([kind, "null"]));
        }
        Some(Value::Array(kinds)) if !has_const => kinds.push(json!("null")),
        _ => match object.get_mut("anyOf") {
            Some(Value::Array(branches)) => branches.push(json!({"type": "null"})),
            _ => {
                // A `$ref`, a `const` or no type: wrap it, keeping the description outside.
                let description = object.remove("description");
                let inner = std::mem::take(object);
                object.insert("anyOf".to_owned(), json!([inner, {"type": "null"}]));
                if let Some(description) = description {
                    object.insert("description".to_owned(), description);
                }
            }
        },
    }
}

fn accepts_null(schema: &Value) -> bool {
    let is_null = |value: &Value| value == "null";
    match schema {
        Value::Bool(accepts) => *accepts,
        Value::Object(object) => {
            object.get("type").is_some_and(|kind| match kind {
                Value::String(_) => is_null(kind),
                Value::Array(kinds) => kinds.iter().any(is_null),
                _ => false,
            }) || object.get("const") == Some(&Value::Null)
                || object
                    .get("anyOf")
                    .and_then(Value::as_array)
                    .is_some_and(|branches| branches.iter().any(accepts_null))
                || object.is_empty()
        }
        _ => false,
    }
}

fn resolve(target: &Value, definitions: &Value) -> Option<Map<String, Value>> {
    let name = target.as_str()?.strip_prefix("#/$defs/")?;
    definitions.get(name)?.as_object().cloned()
}

/// `pointer` with `segments` appended, escaped as JSON pointers are.
fn child(pointer: &str, segments: &[&str]) -> String {
    let mut out = pointer.to_owned();
    for segment in segments {
        out.push('/');
        out.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(mut schema: Value) -> Value {
        make_strict(&mut schema).unwrap();
        schema
    }

    #[test]
    fn a_single_all_of_is_inlined_and_a_ref_with_siblings_resolved() {
        let schema = strict(json!({
            "type": "object",
            "properties": {
                "a": {"allOf": [{"$ref": "#/$defs/Point"}], "description": "A point."},
                "b": {"$ref": "#/$defs/Point", "description": "Another."}
            },
            "required": ["a", "b"],
            "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}
        }));
        for (name, description) in [("a", "A point."), ("b", "Another.")] {
            let property = &schema["properties"][name];
            assert_eq!(property["description"], description, "{schema:#}");
            assert_eq!(property["type"], "object", "{schema:#}");
            assert_eq!(property["additionalProperties"], false, "{schema:#}");
            assert!(property.get("$ref").is_none() && property.get("allOf").is_none());
        }
        assert_eq!(schema["$defs"]["Point"]["additionalProperties"], false);
    }

    #[test]
    fn optional_properties_of_every_shape_become_nullable() {
        let schema = strict(json!({
            "type": "object",
            "properties": {
                "plain": {"type": "string", "default": "x"},
                "count": {"type": "integer", "format": "uint32", "minimum": 0},
                "when": {"type": "string", "format": "date-time"},
                "many": {"type": ["integer", "string"]},
                "choice": {"type": "string", "enum": ["a", "b"]},
                "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "fixed": {"const": "only", "description": "Kept outside."},
                "already": {"type": ["string", "null"]},
                "oneof": {"oneOf": [{"type": "string"}, {"type": "boolean"}]}
            }
        }));
        let p = &schema["properties"];
        assert_eq!(p["plain"], json!({"type": ["string", "null"]}));
        assert_eq!(p["many"]["type"], json!(["integer", "string", "null"]));
        assert_eq!(
            p["choice"],
            json!({"type": ["string", "null"], "enum": ["a", "b", null]})
        );
        assert_eq!(p["either"]["anyOf"][2], json!({"type": "null"}));
        assert_eq!(
            p["fixed"],
            json!({"anyOf": [{"const": "only"}, {"type": "null"}], "description": "Kept outside."})
        );
        assert_eq!(p["already"], json!({"type": ["string", "null"]}));
        assert_eq!(
            p["oneof"],
            json!({"anyOf": [{"type": "string"}, {"type": "boolean"}, {"type": "null"}]})
        );
        assert_eq!(
            p["count"],
            json!({"type": ["integer", "null"], "minimum": 0})
        );
        assert_eq!(
            p["when"],
            json!({"type": ["string", "null"], "format": "date-time"})
        );
        assert_eq!(schema["required"].as_array().unwrap().len(), 9);
    }

    #[test]
    fn nested_objects_in_arrays_are_closed_too() {
        let schema = strict(json!({
            "type": "object",
            "properties": {"rows": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}}},
            "required": ["rows"]
        }));
        let row = &schema["properties"]["rows"]["items"];
        assert_eq!(row["additionalProperties"], false);
        assert_eq!(row["required"], json!(["k"]));
        assert_eq!(row["properties"]["k"]["type"], json!(["string", "null"]));
    }

    #[test]
    fn an_unresolvable_ref_with_siblings_names_where() {
        let mut schema = json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope", "description": "x"}}});
        let (pointer, reason) = make_strict(&mut schema).unwrap_err();
        assert_eq!(pointer, "/properties/a");
        assert!(reason.contains("#/$defs/Nope"), "{reason}");
    }
}
