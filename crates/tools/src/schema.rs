//! JSON Schemas of Rust types (schemars), and the `tools[]` entries and response formats made
//! from them.

use gptproto_proto::validate::check_function_name;
use gptproto_proto::wire::{JsonSchemaFormat, ResponseFormat, Tool};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::strict::make_strict;

/// `T`'s JSON Schema as servers take it: self-contained (subschemas inlined; only a recursive
/// type keeps `$defs`), doc comments as `description`s, no `$schema` or `title`, and as
/// `T` deserializes (the arguments and answers come in).
///
/// ```
/// use schemars::JsonSchema;
///
/// /// Where to look.
/// #[derive(JsonSchema)]
/// struct Place {
///     /// A city name, e.g. Paris.
///     city: String,
///     country: Option<String>,
/// }
///
/// let schema = gptproto_tools::schema_for::<Place>();
/// assert_eq!(schema["type"], "object");
/// assert_eq!(schema["properties"]["city"]["description"], "A city name, e.g. Paris.");
/// assert_eq!(schema["required"], serde_json::json!(["city"]));
/// ```
pub fn schema_for<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .for_deserialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("title");
        object.remove("$schema");
    }
    schema
}

/// A function tool whose `parameters` are `T`'s schema ([`schema_for`]). An empty
/// `description` takes `T`'s doc comment.
///
/// The name is checked against the API's rule (a–z, A–Z, 0–9, `_`, `-`, at most 64) and `T`
/// must be a struct (a JSON object).
///
/// ```
/// use schemars::JsonSchema;
///
/// #[derive(JsonSchema, serde::Deserialize)]
/// struct GetWeather {
///     /// The city, e.g. Paris.
///     city: String,
/// }
///
/// let tool = gptproto_tools::function::<GetWeather>("get_weather", "Current weather in a city")?;
/// let json = serde_json::to_value(&tool)?;
/// assert_eq!(json["function"]["parameters"]["properties"]["city"]["type"], "string");
///
/// let bad = gptproto_tools::function::<GetWeather>("get weather", "").unwrap_err();
/// assert!(bad.to_string().contains("' '"), "{bad}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn function<T: JsonSchema>(name: &str, description: &str) -> Result<Tool, Error> {
    build_function::<T>(name, description, false)
}

/// A function tool as [`function`], in strict mode: `strict: true` and the official SDKs'
/// strict transformation of the schema (`additionalProperties: false` on every object, every
/// property required, the optional ones nullable). A schema strict mode cannot express (a
/// free-form map) is an error naming where.
pub fn strict_function<T: JsonSchema>(name: &str, description: &str) -> Result<Tool, Error> {
    build_function::<T>(name, description, true)
}

fn build_function<T: JsonSchema>(
    name: &str,
    description: &str,
    strict: bool,
) -> Result<Tool, Error> {
    let (parameters, doc) = object_schema::<T>(name, strict)?;
    let description = if description.is_empty() {
        doc
    } else {
        Some(description.to_owned())
    };
    let mut tool = Tool::function(name).parameters(parameters);
    if let Some(description) = description {
        tool = tool.description(description);
    }
    if strict {
        tool = tool.strict(true);
    }
    Ok(tool)
}

/// A `json_schema` response format for `T`, strict (the official SDKs' default for typed
/// formats); `T`'s doc comment becomes its description. Read the answer with
/// [`ChatCompletion::parse`](gptproto_proto::ChatCompletion::parse).
///
/// ```
/// use schemars::JsonSchema;
///
/// /// A person.
/// #[derive(JsonSchema, serde::Deserialize)]
/// struct Person {
///     name: String,
///     age: Option<u32>,
/// }
///
/// let format = gptproto_tools::response_format::<Person>("person")?;
/// let json = serde_json::to_value(&format)?;
/// assert_eq!(json["type"], "json_schema");
/// assert_eq!(json["json_schema"]["strict"], true);
/// assert_eq!(json["json_schema"]["schema"]["required"], serde_json::json!(["name", "age"]));
/// assert_eq!(json["json_schema"]["schema"]["additionalProperties"], false);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn response_format<T: JsonSchema>(name: &str) -> Result<ResponseFormat, Error> {
    build_format::<T>(name, true)
}

/// A `json_schema` response format for `T` without strict mode (for servers that reject
/// `strict`, or schemas strict mode cannot express).
pub fn loose_response_format<T: JsonSchema>(name: &str) -> Result<ResponseFormat, Error> {
    build_format::<T>(name, false)
}

fn build_format<T: JsonSchema>(name: &str, strict: bool) -> Result<ResponseFormat, Error> {
    let (schema, description) = object_schema::<T>(name, strict)?;
    let mut format = JsonSchemaFormat::new(name, schema);
    format.description = description;
    format.strict = Some(strict);
    Ok(ResponseFormat::JsonSchema {
        json_schema: format,
    })
}

/// `T`'s schema for the tool or format `name` (checked), which must describe an object,
/// without its root description (returned apart), strict if asked.
fn object_schema<T: JsonSchema>(
    name: &str,
    strict: bool,
) -> Result<(Value, Option<String>), Error> {
    check_name(name)?;
    let mut schema = schema_for::<T>();
    let object: &mut Map<String, Value> = schema
        .as_object_mut()
        .ok_or_else(|| Error::schema(name, "", "it is `true` or `false`, not an object schema"))?;
    if object.get("type").and_then(Value::as_str) != Some("object") {
        let found = object
            .get("type")
            .map_or_else(|| "no single type".to_owned(), Value::to_string);
        return Err(Error::schema(
            name,
            "",
            format!(
                "parameters and formats must be a JSON object (a struct); {} has {found}",
                T::schema_name()
            ),
        ));
    }
    let description = object
        .remove("description")
        .and_then(|value| value.as_str().map(str::to_owned));
    if strict {
        make_strict(&mut schema)
            .map_err(|(pointer, reason)| Error::schema(name, &pointer, reason))?;
    }
    Ok((schema, description))
}

fn check_name(name: &str) -> Result<(), Error> {
    check_function_name(name).map_err(|reason| {
        Error::new(ErrorKind::InvalidName {
            name: name.to_owned(),
            reason,
        })
    })
}
