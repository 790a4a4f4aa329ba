//! The benchmark input: a 100,000-event chat-completion stream as OpenAI sends it.

use bytes::Bytes;

pub(crate) mod paired;

/// Events in the stream (content chunks plus the role, finish, usage and `[DONE]` events).
pub(crate) const EVENTS: usize = 100_000;

const WORDS: [&str; 16] = [
    " the",
    " model",
    " answers",
    " with",
    " tokens",
    ",",
    " one",
    " chunk",
    " at",
    " a",
    " time",
    " café",
    " 中文",
    "\\n\\n",
    " \\\"quoted\\\"",
    " \\u00e9t\\u00e9",
];

fn event(delta: &str, finish: &str) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\",\
         \"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\",\
         \"system_fingerprint\":\"fp_eb9dce56a8\",\"choices\":[{{\"index\":0,\"delta\":{delta},\
         \"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n"
    )
}

/// The whole stream: a role chunk, content chunks cycling through `WORDS` (some with escapes
/// and non-ASCII text), a finish chunk, a usage chunk and `[DONE]`.
pub(crate) fn stream() -> Bytes {
    let mut out = String::with_capacity(EVENTS * 290);
    out.push_str(&event(
        r#"{"role":"assistant","content":"","refusal":null}"#,
        "null",
    ));
    for i in 0..EVENTS - 4 {
        out.push_str(&event(
            &format!(r#"{{"content":"{}"}}"#, WORDS[i % WORDS.len()]),
            "null",
        ));
    }
    out.push_str(&event("{}", "\"stop\""));
    out.push_str(
        "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\",\
         \"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\",\
         \"system_fingerprint\":\"fp_eb9dce56a8\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,\
         \"completion_tokens\":99996,\"total_tokens\":100015,\"prompt_tokens_details\":{\"cached_tokens\":0,\
         \"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\
         \"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n",
    );
    out.push_str("data: [DONE]\n\n");
    Bytes::from(out)
}

/// `stream` cut into pieces of `size` bytes, as a body arrives (shared slices, no copies).
pub(crate) fn pieces(stream: &Bytes, size: usize) -> Vec<Bytes> {
    (0..stream.len())
        .step_by(size)
        .map(|start| stream.slice(start..(start + size).min(stream.len())))
        .collect()
}
