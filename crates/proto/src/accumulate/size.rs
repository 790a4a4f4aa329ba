//! What folding a chunk adds to an accumulated answer, in bytes: the measure the
//! [`StreamDecoder`](crate::StreamDecoder)'s answer limit is checked against.
//!
//! Text counts its bytes; every other retained thing (a choice, a tool call, a log probability,
//! an unknown field's value) its bytes plus a fixed charge for its bookkeeping, so that a
//! server cannot grow the answer with things that weigh nothing (a new empty choice in each
//! chunk, millions of zero-length tokens). The figure is an estimate of the heap the answer
//! holds, within a small factor, never zero for something retained.

use serde_json::Value;

use crate::wire::{Logprobs, TokenLogprob};

/// The charge for one retained item besides its bytes (a `String`'s or `Vec`'s header, a map
/// entry, a struct's fixed fields).
pub(crate) const ITEM: usize = 32;

/// A JSON value: its strings' and keys' bytes, and [`ITEM`] per value.
pub(crate) fn value(value: &Value) -> usize {
    ITEM + match value {
        Value::String(text) => text.len(),
        Value::Array(items) => items.iter().map(self::value).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(key, item)| key.len() + self::value(item))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// The log probabilities appended.
pub(crate) fn logprobs(logprobs: &Logprobs) -> usize {
    [&logprobs.content, &logprobs.refusal]
        .into_iter()
        .flatten()
        .flatten()
        .map(token)
        .sum()
}

fn token(token: &TokenLogprob) -> usize {
    let extra =
        |extra: &crate::wire::Extra| extra.iter().map(|(k, v)| k.len() + value(v)).sum::<usize>();
    ITEM + token.token.len()
        + token.bytes.as_ref().map_or(0, Vec::len)
        + extra(&token.extra)
        + token
            .top_logprobs
            .iter()
            .map(|top| {
                ITEM + top.token.len() + top.bytes.as_ref().map_or(0, Vec::len) + extra(&top.extra)
            })
            .sum::<usize>()
}
