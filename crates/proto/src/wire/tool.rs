//! Tool definitions, tool choice and response formats.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::extra::Extra;
use super::message::ToolKind;

/// A tool the model may call: `{"type":"function","function":{...}}`.
///
/// ```
/// use gptproto_proto::wire::Tool;
/// use serde_json::json;
///
/// let tool = Tool::function("get_weather")
///     .description("Current weather in a city")
///     .parameters(json!({"type": "object", "properties": {"city": {"type": "string"}}}))
///     .strict(true);
/// assert_eq!(serde_json::to_value(&tool)?["function"]["strict"], true);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Tool {
    /// The kind of tool (only `function` on GPTProto).
    #[serde(rename = "type", default)]
    pub kind: ToolKind,
    /// The function.
    pub function: FunctionDefinition,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl Tool {
    /// A function tool with this name (no description or parameters yet).
    pub fn function(name: impl Into<String>) -> Self {
        Self {
            kind: ToolKind::Function,
            function: FunctionDefinition {
                name: name.into(),
                description: None,
                parameters: None,
                strict: None,
                extra: Extra::new(),
            },
            extra: Extra::new(),
        }
    }

    /// Sets the description that helps the model choose the tool.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.function.description = Some(description.into());
        self
    }

    /// Sets the JSON Schema of the arguments.
    #[must_use]
    pub fn parameters(mut self, schema: Value) -> Self {
        self.function.parameters = Some(schema);
        self
    }

    /// Asks the server to follow the schema exactly (structured outputs).
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.function.strict = Some(strict);
        self
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FunctionDefinition {
    /// The name: a–z, A–Z, 0–9, `_` and `-`, at most 64 characters.
    pub name: String,
    /// What the function does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of the arguments object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Whether the arguments must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Which tool the model calls: `"none"`, `"auto"`, `"required"`, or a named function.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ToolChoice {
    /// Call no tool.
    None,
    /// The model decides.
    Auto,
    /// Call at least one tool.
    Required,
    /// Call this function.
    Function(String),
    /// Another form (`allowed_tools`, a custom tool), kept as sent.
    Other(Value),
}

impl Serialize for ToolChoice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::None => serializer.serialize_str("none"),
            Self::Auto => serializer.serialize_str("auto"),
            Self::Required => serializer.serialize_str("required"),
            Self::Function(name) => {
                json!({"type": "function", "function": {"name": name}}).serialize(serializer)
            }
            Self::Other(value) => value.serialize(serializer),
        }
    }
}

/// `"none"`, `"auto"`, `"required"`, a named function, or another object.
#[cfg(feature = "schemars")]
#[cfg_attr(docsrs, doc(cfg(feature = "schemars")))]
impl schemars::JsonSchema for ToolChoice {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ToolChoice".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                {"type": "string", "enum": ["none", "auto", "required"]},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": "function"},
                        "function": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}},
                            "required": ["name"]
                        }
                    },
                    "required": ["type", "function"]
                },
                {"description": "Another form (`allowed_tools`, a custom tool), sent as is."}
            ]
        })
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match value.as_str() {
            Some("none") => Self::None,
            Some("auto") => Self::Auto,
            Some("required") => Self::Required,
            _ => {
                let name = (value["type"] == "function"
                    && value.as_object().is_some_and(|o| o.len() == 2))
                .then(|| value["function"].as_object())
                .flatten()
                .filter(|function| function.len() == 1)
                .and_then(|function| function["name"].as_str());
                match name {
                    Some(name) => Self::Function(name.to_owned()),
                    None => Self::Other(value),
                }
            }
        })
    }
}

/// The format of the answer: text, any JSON object, or JSON following a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// A valid JSON object.
    JsonObject,
    /// JSON that follows a schema (structured outputs).
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
    /// A format this version does not know, kept whole.
    #[serde(untagged)]
    Other(Map<String, Value>),
}

impl ResponseFormat {
    /// JSON following `schema`, named `name`, strict.
    pub fn json_schema(name: impl Into<String>, schema: Value) -> Self {
        let mut json_schema = JsonSchemaFormat::new(name, schema);
        json_schema.strict = Some(true);
        Self::JsonSchema { json_schema }
    }
}

impl JsonSchemaFormat {
    /// A format named `name` with `schema`, without `strict` (the server's default).
    pub fn new(name: impl Into<String>, schema: Value) -> Self {
        Self {
            name: name.into(),
            description: None,
            schema: Some(schema),
            strict: None,
            extra: Extra::new(),
        }
    }
}

/// A named JSON Schema for [`ResponseFormat::JsonSchema`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct JsonSchemaFormat {
    /// The schema's name: a–z, A–Z, 0–9, `_` and `-`, at most 64 characters.
    pub name: String,
    /// What the answer is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Whether the server must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_choice_forms() {
        for (json, choice) in [
            (json!("none"), ToolChoice::None),
            (json!("auto"), ToolChoice::Auto),
            (json!("required"), ToolChoice::Required),
            (
                json!({"type": "function", "function": {"name": "f"}}),
                ToolChoice::Function("f".into()),
            ),
            (
                json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}),
                ToolChoice::Other(
                    json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}),
                ),
            ),
            (json!("any"), ToolChoice::Other(json!("any"))),
        ] {
            let decoded: ToolChoice = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(decoded, choice);
            assert_eq!(serde_json::to_value(&decoded).unwrap(), json);
        }
    }

    #[test]
    fn response_formats() {
        for json in [
            json!({"type": "text"}),
            json!({"type": "json_object"}),
            json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}, "strict": true}}),
            json!({"type": "grammar", "grammar": "root ::= \"x\""}),
        ] {
            let format: ResponseFormat = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(serde_json::to_value(&format).unwrap(), json);
        }
        let other: ResponseFormat =
            serde_json::from_value(json!({"type": "grammar", "grammar": "g"})).unwrap();
        assert!(matches!(other, ResponseFormat::Other(_)));
    }
}
