//! [`AnswerOutline`]: what an answer says of itself, without its text — what telemetry records
//! when a call ends (its id, model, finish reasons, usage), read in place.

use crate::wire::{ChatCompletion, FinishReason, Usage};

use super::ChunkAccumulator;

/// An answer's id, model, usage and finish reasons, borrowed from a [`ChatCompletion`] or from
/// a [`ChunkAccumulator`] (so far): no text is copied.
///
/// ```
/// use gptproto_proto::accumulate::AnswerOutline;
/// use gptproto_proto::wire::ChatCompletion;
///
/// let completion: ChatCompletion = serde_json::from_str(
///     r#"{"id":"c1","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
///         "usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
/// )?;
/// let outline = AnswerOutline::of(&completion);
/// assert_eq!((outline.id, outline.model), ("c1", "m"));
/// assert_eq!(outline.finish_reasons, ["stop"]);
/// assert_eq!(outline.usage.map(|usage| usage.prompt_tokens), Some(3));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerOutline<'a> {
    /// The answer's id (`""` when the server gave none).
    pub id: &'a str,
    /// The model that answered, as the server named it (`""` when it did not).
    pub model: &'a str,
    /// Each choice's finish reason, in choice order (a choice not finished is left out).
    pub finish_reasons: Vec<&'a str>,
    /// The token usage, when the server reported it.
    pub usage: Option<&'a Usage>,
}

impl<'a> AnswerOutline<'a> {
    /// The outline of a whole answer.
    pub fn of(completion: &'a ChatCompletion) -> Self {
        Self {
            id: &completion.id,
            model: &completion.model,
            finish_reasons: completion
                .choices
                .iter()
                .filter_map(|choice| choice.finish_reason.as_ref().map(FinishReason::as_str))
                .collect(),
            usage: completion.usage.as_ref(),
        }
    }
}

impl ChunkAccumulator {
    /// The outline of what was folded so far (choices in index order).
    pub fn outline(&self) -> AnswerOutline<'_> {
        let mut choices: Vec<_> = self
            .choices
            .iter()
            .filter_map(|choice| Some((choice.index, choice.finish_reason.as_ref()?.as_str())))
            .collect();
        choices.sort_unstable_by_key(|&(index, _)| index);
        AnswerOutline {
            id: &self.completion.id,
            model: &self.completion.model,
            finish_reasons: choices.into_iter().map(|(_, reason)| reason).collect(),
            usage: self.completion.usage.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Text;
    use crate::wire::ChatCompletionChunk;

    use super::*;

    #[test]
    fn a_stream_outline_matches_its_snapshot() {
        let mut accumulator = ChunkAccumulator::new().expect_choices(2);
        for data in [
            r#"{"id":"c","model":"m-1","choices":[{"index":1,"delta":{"content":"b"}},{"index":0,"delta":{"content":"a"}}]}"#,
            r#"{"id":"c","model":"m-1","choices":[{"index":1,"delta":{},"finish_reason":"length"}]}"#,
            r#"{"id":"c","model":"m-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"id":"c","model":"m-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
        ] {
            let chunk = ChatCompletionChunk::from_json(&Text::from(data)).unwrap();
            accumulator.push(&chunk);
        }
        let outline = accumulator.outline();
        assert_eq!(outline.finish_reasons, ["stop", "length"]);
        assert_eq!(outline.usage.map(|usage| usage.total_tokens), Some(7));
        let snapshot = accumulator.snapshot();
        assert_eq!(AnswerOutline::of(&snapshot), outline);
    }

    #[test]
    fn nothing_is_invented() {
        let accumulator = ChunkAccumulator::new();
        let outline = accumulator.outline();
        assert_eq!(outline.id, "");
        assert!(outline.finish_reasons.is_empty());
        assert!(outline.usage.is_none());
    }
}
