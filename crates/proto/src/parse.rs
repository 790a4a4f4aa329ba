//! Structured outputs: an answer read as the type it was asked to follow.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::text::prefix;
use crate::wire::{ChatCompletion, FinishReason};

impl ChatCompletion {
    /// The first choice's content as a `T`, for answers asked for with a JSON response format
    /// (`json_schema` or `json_object`).
    ///
    /// The error tells apart why there is no `T`: the model refused
    /// ([`is_refusal`](Error::is_refusal)), the answer was cut by `max_tokens`
    /// ([`is_length_limit`](Error::is_length_limit)) or withheld by a content filter
    /// ([`is_content_policy`](Error::is_content_policy)), or the text is not JSON of that type
    /// ([`is_invalid_json`](Error::is_invalid_json), quoting serde's error and the text's start).
    ///
    /// ```
    /// use gptproto_proto::ChatCompletion;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Person { name: String, age: u32 }
    ///
    /// let answer: ChatCompletion = serde_json::from_str(r#"{"choices":[{"index":0,
    ///     "message":{"role":"assistant","content":"{\"name\":\"Ada\",\"age\":36}"},
    ///     "finish_reason":"stop"}]}"#)?;
    /// let person: Person = answer.parse()?;
    /// assert_eq!((person.name.as_str(), person.age), ("Ada", 36));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let index = self.choices.first().map_or(0, |choice| choice.index);
        self.parse_choice(index)
    }

    /// The content of the choice with `index` as a `T`; see [`parse`](Self::parse).
    pub fn parse_choice<T: DeserializeOwned>(&self, index: u32) -> Result<T, Error> {
        let choice = self.choice(index).ok_or_else(|| {
            Error::new(ErrorKind::InvalidJson {
                reason: format!("the answer has no choice {index}"),
                text_prefix: String::new(),
            })
        })?;
        let message = &choice.message;
        if let Some(refusal) = message.refusal.as_deref().filter(|text| !text.is_empty()) {
            return Err(Error::new(ErrorKind::Refusal {
                refusal: refusal.to_owned(),
            }));
        }
        let text = message.text().unwrap_or_default();
        if let Some(reason @ (FinishReason::Length | FinishReason::ContentFilter)) =
            &choice.finish_reason
        {
            return Err(Error::new(ErrorKind::Unfinished {
                finish_reason: reason.clone(),
                text_prefix: prefix(text),
            }));
        }
        from_model_json(text).map_err(|error| {
            Error::new(ErrorKind::InvalidJson {
                reason: error.to_string(),
                text_prefix: prefix(text),
            })
        })
    }
}

/// `text`, JSON written by a model, as a `T`.
///
/// Strict schemas make optional properties required and nullable, so a model sends `null`
/// where the Rust type has a `#[serde(default)]` field that is not an `Option`. When `text`
/// does not decode as it is, it is decoded again with the `null` members of its objects
/// dropped (a dropped `Option` field is `None`, a dropped defaulted field its default); the
/// first error is the one reported.
pub fn from_model_json<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    let first = match serde_json::from_str(text) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return Err(first);
    };
    if !drop_null_members(&mut value) {
        return Err(first);
    }
    serde_json::from_value(value).map_err(|_| first)
}

/// Removes the `null` members of every object in `value`; whether there were any.
fn drop_null_members(value: &mut Value) -> bool {
    match value {
        Value::Object(object) => {
            let before = object.len();
            object.retain(|_, member| !member.is_null());
            let mut dropped = object.len() != before;
            for member in object.values_mut() {
                dropped |= drop_null_members(member);
            }
            dropped
        }
        Value::Array(values) => values
            .iter_mut()
            .fold(false, |dropped, value| drop_null_members(value) | dropped),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Forecast {
        city: String,
        #[serde(default)]
        days: u32,
        note: Option<String>,
    }

    fn answer(message: Value, finish_reason: &str) -> ChatCompletion {
        serde_json::from_value(json!({
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]
        }))
        .unwrap()
    }

    #[test]
    fn json_content_parses() {
        let answer = answer(
            json!({"role": "assistant", "content": r#"{"city":"Paris","days":3,"note":"sunny"}"#}),
            "stop",
        );
        let forecast: Forecast = answer.parse().unwrap();
        assert_eq!(forecast.days, 3);
        assert_eq!(forecast.note.as_deref(), Some("sunny"));
    }

    #[test]
    fn nulls_from_a_strict_schema_fall_back_to_defaults() {
        let answer = answer(
            json!({"role": "assistant", "content": r#"{"city":"Paris","days":null,"note":null}"#}),
            "stop",
        );
        assert_eq!(
            answer.parse::<Forecast>().unwrap(),
            Forecast {
                city: "Paris".into(),
                days: 0,
                note: None
            }
        );
    }

    #[test]
    fn a_refusal_is_told_apart() {
        let answer = answer(
            json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
            "stop",
        );
        let error = answer.parse::<Forecast>().unwrap_err();
        assert!(error.is_refusal() && !error.is_invalid_json(), "{error}");
        assert!(error.to_string().contains("I can't help with that."));
    }

    #[test]
    fn a_length_cut_is_told_apart_even_when_the_text_parses() {
        let answer = answer(
            json!({"role": "assistant", "content": r#"{"city":"Pa"#}),
            "length",
        );
        let error = answer.parse::<Forecast>().unwrap_err();
        assert!(
            error.is_length_limit() && !error.is_invalid_json(),
            "{error}"
        );
        assert!(error.to_string().contains("max_tokens"), "{error}");
    }

    #[test]
    fn a_content_filter_is_a_content_policy_error() {
        let answer = answer(
            json!({"role": "assistant", "content": ""}),
            "content_filter",
        );
        let error = answer.parse::<Forecast>().unwrap_err();
        assert!(
            error.is_content_policy() && !error.is_length_limit(),
            "{error}"
        );
    }

    #[test]
    fn invalid_json_quotes_serde_and_the_text() {
        let answer = answer(
            json!({"role": "assistant", "content": r#"{"town":"Paris"}"#}),
            "stop",
        );
        let error = answer.parse::<Forecast>().unwrap_err();
        assert!(error.is_invalid_json(), "{error}");
        let shown = error.to_string();
        assert!(shown.contains("missing field `city`"), "{shown}");
        assert!(shown.contains(r#"{\"town\":\"Paris\"}"#), "{shown}");
    }

    #[test]
    fn no_content_and_a_missing_choice_are_invalid_json() {
        let empty = answer(json!({"role": "assistant", "content": null}), "stop");
        assert!(empty.parse::<Forecast>().unwrap_err().is_invalid_json());
        assert!(
            empty
                .parse_choice::<Forecast>(3)
                .unwrap_err()
                .to_string()
                .contains("no choice 3")
        );
    }
}
