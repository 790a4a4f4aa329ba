//! What a request will be charged in tokens, without a tokenizer: a prompt estimate from the
//! text it carries, calibrated per model by the `usage` answers report, plus the output the
//! provider charges at admission.

use std::collections::HashMap;

use crate::wire::{ChatRequest, Content, ContentPart, Usage};

/// Characters per token of English text for OpenAI's and Qwen's tokenizers (their guides' rule of
/// thumb); calibration corrects it per model.
const CHARS_PER_TOKEN: f64 = 4.0;
/// Tokens each message costs beyond its text (role, separators), and the answer's priming.
const PER_MESSAGE: u64 = 4;
const PRIMING: u64 = 3;
/// An image: OpenAI's cost of a 1024 × 1024 image at high detail (base64 bytes are not text).
const PER_IMAGE: u64 = 765;
/// The output reserved when the request sets no `max_tokens` and no answer was seen yet.
const DEFAULT_OUTPUT: u64 = 512;
/// How much of each new observation the calibration takes.
const SMOOTHING: f64 = 0.2;

/// The tokens a request is expected to be charged, and what went into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    /// The request's model (calibration is per model).
    pub model: String,
    /// The prompt estimate before calibration.
    pub raw_prompt: u64,
    /// The calibrated prompt estimate.
    pub prompt: u64,
    /// The output charged at admission: `max_tokens` (or `max_completion_tokens`) × `n`, or the
    /// model's learned average answer when unset.
    pub output: u64,
    /// The choices asked for (`n`).
    pub choices: u32,
}

impl Reservation {
    /// Prompt and output.
    pub fn tokens(&self) -> u64 {
        self.prompt + self.output
    }
}

/// Per-model calibration: prompt tokens per estimated token, and the average answer length.
#[derive(Debug, Clone, Default)]
pub(crate) struct Estimator {
    models: HashMap<String, Calibration>,
}

#[derive(Debug, Clone, Copy)]
struct Calibration {
    /// `usage.prompt_tokens` / the raw estimate, smoothed.
    ratio: f64,
    /// `usage.completion_tokens` per choice, smoothed.
    output: f64,
    seen: u32,
}

impl Estimator {
    /// The reservation for `request`.
    pub(crate) fn reserve(&self, request: &ChatRequest) -> Reservation {
        let raw_prompt = estimate_prompt(request);
        let calibration = self.models.get(&request.model);
        let ratio = calibration.map_or(1.0, |c| c.ratio);
        let n = request.n.unwrap_or(1).max(1);
        let choices = u64::from(n);
        let output = match request.max_completion_tokens.or(request.max_tokens) {
            Some(max) => u64::from(max) * choices,
            None => {
                let average = calibration
                    .filter(|c| c.seen > 0)
                    .map_or(DEFAULT_OUTPUT as f64, |c| c.output);
                (average.ceil() as u64).max(1) * choices
            }
        };
        Reservation {
            model: request.model.clone(),
            raw_prompt,
            prompt: (raw_prompt as f64 * ratio).ceil() as u64,
            output,
            choices: n,
        }
    }

    /// Learns from what an answer to `reservation`'s request reported.
    pub(crate) fn observe(&mut self, reservation: &Reservation, usage: &Usage) {
        let choices = reservation.choices;
        let observed_ratio =
            (usage.prompt_tokens as f64 / reservation.raw_prompt.max(1) as f64).clamp(0.1, 10.0);
        let observed_output = usage.completion_tokens as f64 / f64::from(choices.max(1));
        let calibration = self
            .models
            .entry(reservation.model.clone())
            .or_insert(Calibration {
                ratio: observed_ratio,
                output: observed_output,
                seen: 0,
            });
        // The first observations weigh more (an average of what was seen), then smoothing.
        let weight = (1.0 / f64::from(calibration.seen + 1)).max(SMOOTHING);
        calibration.ratio += weight * (observed_ratio - calibration.ratio);
        calibration.output += weight * (observed_output - calibration.output);
        calibration.seen = calibration.seen.saturating_add(1);
    }
}

/// The prompt's tokens, estimated from its text: messages (text, text parts, names, tool calls'
/// names and arguments), tool definitions, the response format's schema; images at a fixed cost.
pub(crate) fn estimate_prompt(request: &ChatRequest) -> u64 {
    let mut chars = 0usize;
    let mut images = 0u64;
    for message in &request.messages {
        match &message.content {
            Some(Content::Text(text)) => chars += text.chars().count(),
            Some(Content::Parts(parts)) => {
                for part in parts {
                    match part {
                        ContentPart::Text(text) => chars += text.text.chars().count(),
                        ContentPart::ImageUrl(_) => images += 1,
                        _ => {}
                    }
                }
            }
            None => {}
        }
        chars += message.name.as_deref().map_or(0, str::len);
        for call in &message.tool_calls {
            chars += call.function.name.len() + call.function.arguments.len();
        }
    }
    for tool in &request.tools {
        chars += serde_json::to_string(&tool.function).map_or(0, |json| json.len());
    }
    if let Some(format) = &request.response_format {
        chars += serde_json::to_string(format).map_or(0, |json| json.len());
    }
    let text_tokens = (chars as f64 / CHARS_PER_TOKEN).ceil() as u64;
    text_tokens + PER_MESSAGE * request.messages.len() as u64 + PRIMING + PER_IMAGE * images
}
