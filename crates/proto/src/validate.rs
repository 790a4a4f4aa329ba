//! Checks a [`ChatRequest`] passes before it is sent, each failure naming the field at fault
//! (`messages[2].tool_call_id`), so that a mistake costs no round trip.

use crate::Error;
use crate::wire::{ChatRequest, Message, ResponseFormat, Role, ToolChoice, ToolKind};

/// What validation enforces beyond the structure of the request.
///
/// ```
/// use gptproto_proto::validate::ValidationRules;
///
/// let mut rules = ValidationRules::permissive();
/// rules.max_choices = 16;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationRules {
    /// The largest `n` accepted: 10 on GPTProto; other servers allow more.
    pub max_choices: u32,
    /// Check numeric ranges from OpenAI's spec (temperature 0–2, top_p 0–1, penalties −2–2,
    /// top_logprobs 0–20, logit_bias −100–100).
    pub check_ranges: bool,
}

impl Default for ValidationRules {
    /// GPTProto's rules ([`gptproto`](Self::gptproto)).
    fn default() -> Self {
        Self::gptproto()
    }
}

impl ValidationRules {
    /// GPTProto's rules: `n` at most 10, and the numeric ranges of OpenAI's spec.
    pub fn gptproto() -> Self {
        Self {
            max_choices: 10,
            check_ranges: true,
        }
    }

    /// Only what every server requires (the structure of the request): any `n` from 1, no
    /// numeric ranges.
    pub fn permissive() -> Self {
        Self {
            max_choices: u32::MAX,
            check_ranges: false,
        }
    }
}

/// The typed top-level fields of [`ChatRequest`]: an `extra` key must not repeat one.
/// A unit test keeps this list equal to what the type serializes.
pub(crate) const TYPED_REQUEST_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "stream",
    "stream_options",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "prompt_cache_options",
    "metadata",
    "service_tier",
    "modalities",
    "reasoning_effort",
    "verbosity",
    "store",
    "prediction",
    "audio",
    "web_search_options",
    "moderation",
    "function_call",
    "functions",
    "enable_thinking",
    "thinking_budget",
    "enable_search",
    "search_options",
];

/// Whether `name` is a valid function or schema name: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn check_function_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty; use 1 to 64 of a-z, A-Z, 0-9, '_' and '-'".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "{name:?} contains {bad:?}; only a-z, A-Z, 0-9, '_' and '-' are allowed"
        ));
    }
    let length = name.len();
    if length > 64 {
        return Err(format!(
            "{name:?} is {length} characters long; at most 64 are allowed"
        ));
    }
    Ok(())
}

impl ChatRequest {
    /// Validates with GPTProto's rules ([`ValidationRules::default`]).
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_with(&ValidationRules::default())
    }

    /// Validates with `rules`. The error names the first field at fault.
    ///
    /// ```
    /// use gptproto_proto::{ChatRequest, Message};
    ///
    /// let error = ChatRequest::new("qwen-turbo")
    ///     .user("weather?")
    ///     .message(Message::tool("", "22C"))
    ///     .validate()
    ///     .unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid request: messages[1].tool_call_id: a tool message needs the id of the call it answers"
    /// );
    /// ```
    pub fn validate_with(&self, rules: &ValidationRules) -> Result<(), Error> {
        if self.model.trim().is_empty() {
            return Err(Error::validation(
                "model",
                "is empty; name a model such as qwen-turbo",
            ));
        }
        if self.messages.is_empty() {
            return Err(Error::validation(
                "messages",
                "is empty; a request needs at least one message",
            ));
        }
        for (i, message) in self.messages.iter().enumerate() {
            check_message(message).map_err(|(field, reason)| {
                Error::validation(format!("messages[{i}]{field}"), reason)
            })?;
        }
        if let Some(n) = self.n
            && (n == 0 || n > rules.max_choices)
        {
            return Err(Error::validation(
                "n",
                format!("is {n}; it must be between 1 and {}", rules.max_choices),
            ));
        }
        for (field, value) in [
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
        ] {
            if value == Some(0) {
                return Err(Error::validation(field, "is 0; it must be at least 1"));
            }
        }
        self.check_tools()?;
        if self.top_logprobs.is_some() && self.logprobs != Some(true) {
            return Err(Error::validation(
                "top_logprobs",
                "is set but logprobs is not true; set logprobs: true as well",
            ));
        }
        if self.stream_options.is_some() && !self.is_stream() {
            return Err(Error::validation(
                "stream_options",
                "is only allowed when stream is true",
            ));
        }
        if let Some(ResponseFormat::JsonSchema { json_schema }) = &self.response_format {
            check_function_name(&json_schema.name)
                .map_err(|reason| Error::validation("response_format.json_schema.name", reason))?;
        }
        if let Some(key) = self
            .extra
            .iter()
            .map(|(key, _)| key)
            .find(|key| TYPED_REQUEST_FIELDS.contains(&key.as_str()))
        {
            return Err(Error::validation(
                format!("extra.{key}"),
                format!(
                    "repeats the typed field `{key}`; set that field instead (or use merge_json)"
                ),
            ));
        }
        if rules.check_ranges {
            self.check_ranges()?;
        }
        Ok(())
    }

    fn check_tools(&self) -> Result<(), Error> {
        for (i, tool) in self.tools.iter().enumerate() {
            let name = &tool.function.name;
            check_function_name(name)
                .map_err(|reason| Error::validation(format!("tools[{i}].function.name"), reason))?;
            if self.tools[..i]
                .iter()
                .any(|earlier| earlier.function.name == *name)
            {
                return Err(Error::validation(
                    format!("tools[{i}].function.name"),
                    format!("{name:?} is defined twice"),
                ));
            }
            if let Some(parameters) = &tool.function.parameters
                && !parameters.is_object()
            {
                return Err(Error::validation(
                    format!("tools[{i}].function.parameters"),
                    "must be a JSON Schema object",
                ));
            }
        }
        if let Some(ToolChoice::Function(name)) = &self.tool_choice
            && !self.tools.iter().any(|tool| tool.function.name == *name)
        {
            return Err(Error::validation(
                "tool_choice",
                format!("names the function {name:?}, which is not among the tools"),
            ));
        }
        Ok(())
    }

    fn check_ranges(&self) -> Result<(), Error> {
        let in_range = |field: &str, value: Option<f64>, low: f64, high: f64| match value {
            Some(v) if !(low..=high).contains(&v) => Err(Error::validation(
                field,
                format!("is {v}; it must be between {low} and {high}"),
            )),
            _ => Ok(()),
        };
        in_range("temperature", self.temperature, 0.0, 2.0)?;
        in_range("top_p", self.top_p, 0.0, 1.0)?;
        in_range("frequency_penalty", self.frequency_penalty, -2.0, 2.0)?;
        in_range("presence_penalty", self.presence_penalty, -2.0, 2.0)?;
        in_range("top_logprobs", self.top_logprobs.map(f64::from), 0.0, 20.0)?;
        for (token, bias) in self.logit_bias.iter().flatten() {
            in_range(
                &format!("logit_bias.{token}"),
                Some(f64::from(*bias)),
                -100.0,
                100.0,
            )?;
        }
        Ok(())
    }
}

/// Checks one message; the error's field is relative to it (`.tool_call_id`).
fn check_message(message: &Message) -> Result<(), (String, String)> {
    let fail = |field: &str, reason: &str| Err((field.to_owned(), reason.to_owned()));
    match &message.role {
        Role::Tool => {
            if message.tool_call_id.as_deref().is_none_or(str::is_empty) {
                return fail(
                    ".tool_call_id",
                    "a tool message needs the id of the call it answers",
                );
            }
            if message.content.is_none() {
                return fail(
                    ".content",
                    "a tool message needs content (the tool's result)",
                );
            }
        }
        Role::System | Role::Developer | Role::User if message.content.is_none() => {
            return fail(
                ".content",
                &format!("a {} message needs content", message.role),
            );
        }
        Role::Assistant
            if message.content.is_none()
                && message.tool_calls.is_empty()
                && message.function_call.is_none()
                && message.refusal.is_none() =>
        {
            return fail(
                ".content",
                "an assistant message needs content or tool_calls",
            );
        }
        _ => {}
    }
    for (j, call) in message.tool_calls.iter().enumerate() {
        if call.id.is_empty() {
            return Err((
                format!(".tool_calls[{j}].id"),
                "is empty; a tool call needs an id".to_owned(),
            ));
        }
        if call.kind == ToolKind::Function {
            check_function_name(&call.function.name)
                .map_err(|reason| (format!(".tool_calls[{j}].function.name"), reason))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
