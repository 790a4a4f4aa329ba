//! The schemas of representative types, as servers receive them, and the strict transform.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// Books a trip.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "only the schema is read")]
struct BookTrip {
    /// Where to go.
    destination: Place,
    /// Stops on the way, in order.
    stops: Vec<Place>,
    /// How to travel.
    mode: Mode,
    /// Nights to stay; the traveller's usual when absent.
    nights: Option<u32>,
    /// Preferences by name.
    #[serde(default)]
    preferences: BTreeMap<String, String>,
}

/// A place.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "only the schema is read")]
struct Place {
    /// The city.
    city: String,
    /// The ISO 3166 country code.
    country: Option<String>,
}

/// How to travel.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code, reason = "only the schema is read")]
enum Mode {
    Train,
    Plane,
}

/// A tagged enum.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(dead_code, reason = "only the schema is read")]
enum Shape {
    /// A circle.
    Circle { radius: f64 },
    /// A rectangle.
    Rectangle { width: f64, height: f64 },
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "only the schema is read")]
struct Drawing {
    shapes: Vec<Shape>,
    #[serde(default)]
    title: String,
}

/// A recursive type refers to itself (`#`, the root).
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "only the schema is read")]
struct Tree {
    label: String,
    children: Vec<Self>,
}

fn parameters(tool: &gptproto_proto::wire::Tool) -> Value {
    tool.function.parameters.clone().unwrap()
}

#[test]
fn nested_structs_enums_options_vecs_maps_and_doc_comments() {
    let tool = gptproto_tools::function::<BookTrip>("book_trip", "").unwrap();
    assert_eq!(tool.function.description.as_deref(), Some("Books a trip."));
    assert_eq!(tool.function.strict, None);
    let place = json!({
        "type": "object",
        "description": "A place.",
        "properties": {
            "city": {"type": "string", "description": "The city."},
            "country": {"type": ["string", "null"], "description": "The ISO 3166 country code."}
        },
        "required": ["city"]
    });
    let mut destination = place.clone();
    destination["description"] = json!("Where to go.");
    assert_eq!(
        parameters(&tool),
        json!({
            "type": "object",
            "properties": {
                "destination": destination,
                "stops": {"type": "array", "description": "Stops on the way, in order.", "items": place},
                "mode": {"type": "string", "description": "How to travel.", "enum": ["train", "plane"]},
                "nights": {
                    "type": ["integer", "null"],
                    "description": "Nights to stay; the traveller's usual when absent.",
                    "format": "uint32",
                    "minimum": 0
                },
                "preferences": {
                    "type": "object",
                    "description": "Preferences by name.",
                    "additionalProperties": {"type": "string"},
                    "default": {}
                }
            },
            "required": ["destination", "stops", "mode"]
        })
    );
    // Declaration order is kept: models write structured answers in schema order.
    let keys: Vec<String> = parameters(&tool)["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        ["destination", "stops", "mode", "nights", "preferences"]
    );
}

#[test]
fn strict_requires_everything_closes_objects_and_makes_optional_nullable() {
    let tool = gptproto_tools::strict_function::<Drawing>("draw", "Draws shapes").unwrap();
    assert_eq!(tool.function.strict, Some(true));
    let schema = parameters(&tool);
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], json!(["shapes", "title"]));
    assert_eq!(
        schema["properties"]["title"]["type"],
        json!(["string", "null"])
    );
    assert!(schema["properties"]["title"].get("default").is_none());
    // The tagged enum's variants: anyOf (strict mode has no oneOf), each closed.
    let variants = schema["properties"]["shapes"]["items"]["anyOf"]
        .as_array()
        .unwrap_or_else(|| panic!("no anyOf in {schema:#}"));
    assert_eq!(variants.len(), 2);
    for variant in variants {
        assert_eq!(variant["additionalProperties"], false, "{variant:#}");
        let required = variant["required"].as_array().unwrap();
        let properties = variant["properties"].as_object().unwrap();
        assert_eq!(required.len(), properties.len(), "{variant:#}");
        assert!(properties.contains_key("kind"));
    }
}

#[test]
fn strict_rejects_free_form_maps_naming_where() {
    let error = gptproto_tools::strict_function::<BookTrip>("book_trip", "").unwrap_err();
    assert!(error.is_schema(), "{error}");
    let shown = error.to_string();
    assert!(shown.contains("/properties/preferences"), "{shown}");
    assert!(shown.contains("additionalProperties"), "{shown}");
    // The non-strict form takes it.
    assert!(gptproto_tools::function::<BookTrip>("book_trip", "").is_ok());
}

#[test]
fn a_recursive_type_refers_to_the_root() {
    let tool = gptproto_tools::strict_function::<Tree>("tree", "A tree").unwrap();
    let schema = parameters(&tool);
    assert_eq!(
        schema["properties"]["children"]["items"],
        json!({"$ref": "#"})
    );
    assert_eq!(schema["additionalProperties"], false, "{schema:#}");
    assert_eq!(schema["required"], json!(["label", "children"]));
}

#[test]
fn parameters_must_be_an_object() {
    let error = gptproto_tools::function::<Mode>("mode", "").unwrap_err();
    assert!(error.is_schema(), "{error}");
    assert!(
        error.to_string().contains("must be a JSON object"),
        "{error}"
    );
    let error = gptproto_tools::function::<Vec<String>>("list", "").unwrap_err();
    assert!(error.is_schema(), "{error}");
}

#[test]
fn names_are_checked_naming_the_character_or_the_length() {
    let error = gptproto_tools::function::<Place>("find.place", "").unwrap_err();
    assert!(error.is_invalid_name(), "{error}");
    assert!(error.to_string().contains("'.'"), "{error}");
    let long = "a".repeat(65);
    let error = gptproto_tools::function::<Place>(&long, "").unwrap_err();
    assert!(error.to_string().contains("65 characters"), "{error}");
    let error = gptproto_tools::response_format::<Place>("").unwrap_err();
    assert!(
        error.is_invalid_name() && error.to_string().contains("empty"),
        "{error}"
    );
    assert!(gptproto_tools::function::<Place>(&"a".repeat(64), "").is_ok());
    assert!(gptproto_tools::function::<Place>("find_place-2", "").is_ok());
}

#[test]
fn response_formats_are_strict_by_default() {
    let format = gptproto_tools::response_format::<Place>("place").unwrap();
    let json = serde_json::to_value(&format).unwrap();
    assert_eq!(
        json,
        json!({
            "type": "json_schema",
            "json_schema": {
                "name": "place",
                "description": "A place.",
                "schema": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "description": "The city."},
                        "country": {"type": ["string", "null"], "description": "The ISO 3166 country code."}
                    },
                    "required": ["city", "country"],
                    "additionalProperties": false
                },
                "strict": true
            }
        })
    );
    let loose =
        serde_json::to_value(gptproto_tools::loose_response_format::<Place>("place").unwrap())
            .unwrap();
    assert_eq!(loose["json_schema"]["strict"], false);
    assert_eq!(loose["json_schema"]["schema"]["required"], json!(["city"]));
}
