//! [`LimitedApi`]: a chat-completions API that enforces rate limits as providers do, for the
//! batch tests and benchmarks: requests and tokens per minute, each a bucket of one window of
//! the limit (1 s), full at the start, checked when a request arrives and charged then (the
//! prompt by its own count, plus `max_tokens` × `n`); a 429 otherwise, with `retry-after-ms`
//! and OpenAI's "Please try again in 84ms." text (or, with [`Limits::hints`] off, without). Optionally the `x-ratelimit-*` headers, a
//! latency, a share of 500s and of dropped connections. It counts what it answered per request
//! (by the last user message, which the tests make unique) to prove exactly-once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Recorded;
use crate::reply::{Ending, Reply};

/// How a [`LimitedApi`] behaves.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests per minute (`u64::MAX`: none).
    pub requests_per_minute: u64,
    /// Tokens per minute (`u64::MAX`: none).
    pub tokens_per_minute: u64,
    /// The window a bucket holds (1 s).
    pub window: Duration,
    /// Send the `x-ratelimit-*` headers.
    pub headers: bool,
    /// With them, `x-ratelimit-remaining-*` and `x-ratelimit-reset-*`; `false`: the limits
    /// alone (as the LiteLLM run showed them).
    pub remaining: bool,
    /// Say in a 429 when to come back (`retry-after-ms`, "Please try again in 84ms."); `false`:
    /// a 429 that says nothing of it (as LiteLLM's router and others send).
    pub hints: bool,
    /// Each answer's latency, drawn uniformly from this range.
    pub latency: (Duration, Duration),
    /// The share of requests answered 500 (after admission).
    pub server_errors: f64,
    /// The share of requests whose connection is dropped (after admission, before any body).
    pub dropped: f64,
    /// The completion tokens of each answer (at most `max_tokens`).
    pub completion_tokens: u64,
    /// How many requests it works on at once (`None`: any number); the others wait their
    /// turn, first come first served, so that their latency grows with the queue.
    pub slots: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests_per_minute: u64::MAX,
            tokens_per_minute: u64::MAX,
            window: Duration::from_secs(1),
            headers: true,
            remaining: true,
            hints: true,
            latency: (Duration::ZERO, Duration::ZERO),
            server_errors: 0.0,
            dropped: 0.0,
            completion_tokens: 5,
            slots: None,
        }
    }
}

/// The server's count of a prompt: a tokenizer of its own, a little different from the
/// client's estimate (so that calibration matters): a token per 3.6 characters, 5 per message.
pub fn server_prompt_tokens(body: &Value) -> u64 {
    let messages = body["messages"].as_array().map_or(&[][..], Vec::as_slice);
    let chars: usize = messages
        .iter()
        .map(|message| match &message["content"] {
            Value::String(text) => text.chars().count(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|part| part["text"].as_str())
                .map(|text| text.chars().count())
                .sum(),
            _ => 0,
        })
        .sum();
    (chars as f64 / 3.6).ceil() as u64 + 5 * messages.len() as u64
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u64, window: Duration, now: Instant) -> Self {
        let rate = per_minute as f64 / 60.0;
        let capacity = rate * window.as_secs_f64();
        Self {
            rate,
            capacity,
            level: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        self.level = (self.level + self.rate * (now - self.at).as_secs_f64()).min(self.capacity);
        self.at = now;
    }

    fn fits(&self, cost: f64) -> bool {
        self.level + 1e-6 * cost.max(1.0) >= cost.min(self.capacity)
    }

    /// Seconds until `cost` fits.
    fn wait(&self, cost: f64) -> f64 {
        ((cost.min(self.capacity) - self.level) / self.rate).max(0.0)
    }
}

/// What the server saw.
#[derive(Debug, Default, Clone)]
pub struct Served {
    /// Answers (200) per request key (the last user message).
    pub answered: HashMap<String, u32>,
    /// Requests refused with 429.
    pub rate_limited: u64,
    /// Requests answered 500 or dropped.
    pub failed: u64,
    /// Per admitted request: (seconds since the server started, tokens charged).
    pub admitted: Vec<(f64, u64)>,
    /// The most requests it held at once (working on them or queued).
    pub most_held: usize,
}

#[derive(Debug)]
struct State {
    requests: Bucket,
    tokens: Bucket,
    served: Served,
    /// When each slot is free next (with [`Limits::slots`]).
    slots: Vec<Instant>,
    /// When each request held now is done.
    held: Vec<Instant>,
}

/// A rate-limited chat-completions API: give [`handler`](Self::handler) to a
/// [`TestServer`](crate::TestServer).
#[derive(Debug, Clone)]
pub struct LimitedApi {
    limits: Limits,
    started: Instant,
    state: Arc<Mutex<State>>,
}

impl LimitedApi {
    /// An API with these limits, its buckets full.
    pub fn new(limits: Limits) -> Self {
        let now = Instant::now();
        Self {
            state: Arc::new(Mutex::new(State {
                requests: Bucket::new(limits.requests_per_minute, limits.window, now),
                tokens: Bucket::new(limits.tokens_per_minute, limits.window, now),
                served: Served::default(),
                slots: vec![now; limits.slots.unwrap_or(0)],
                held: Vec::new(),
            })),
            started: now,
            limits,
        }
    }

    /// Serves this API on a test server (plain HTTP on loopback).
    pub async fn serve(limits: Limits) -> (crate::TestServer, Self) {
        let api = Self::new(limits);
        let handler = api.clone();
        let server = crate::TestServer::start(move |request| handler.answer(request)).await;
        (server, api)
    }

    /// What it served so far.
    pub fn served(&self) -> Served {
        self.state.lock().expect("not poisoned").served.clone()
    }

    /// The answer to one request.
    pub fn answer(&self, request: &Recorded) -> Reply {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let prompt = server_prompt_tokens(&body);
        let choices = body["n"].as_u64().unwrap_or(1).max(1);
        let max_tokens = body["max_tokens"]
            .as_u64()
            .or_else(|| body["max_completion_tokens"].as_u64());
        let charged = prompt + max_tokens.unwrap_or(self.limits.completion_tokens) * choices;
        let key = body["messages"]
            .as_array()
            .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|message| message["content"].as_str())
            .unwrap_or_default()
            .to_owned();
        let now = Instant::now();
        let mut state = self.state.lock().expect("not poisoned");
        state.requests.refill(now);
        state.tokens.refill(now);
        let cost = charged as f64;
        if !(state.requests.fits(1.0) && state.tokens.fits(cost)) {
            state.served.rate_limited += 1;
            let (kind, wait) = if state.requests.fits(1.0) {
                ("tokens", state.tokens.wait(cost))
            } else {
                ("requests", state.requests.wait(1.0))
            };
            let wait_ms = (wait * 1000.0).ceil().max(1.0) as u64;
            let message = if self.limits.hints {
                format!(
                    "Rate limit reached for qwen-turbo on {kind} per min. Please try again in {wait_ms}ms."
                )
            } else {
                format!("Rate limit reached for qwen-turbo on {kind} per min.")
            };
            let mut reply = Reply::json(
                429,
                &json!({"error": {"message": message, "type": kind, "code": "rate_limit_exceeded"}}),
            );
            if self.limits.hints {
                reply = reply.header("retry-after-ms", &wait_ms.to_string());
            }
            return self.with_headers(reply, &state);
        }
        state.requests.level -= 1.0;
        state.tokens.level -= cost;
        let elapsed = (now - self.started).as_secs_f64();
        state.served.admitted.push((elapsed, charged));
        let (low, high) = self.limits.latency;
        let mut latency = low + (high.saturating_sub(low)).mul_f64(fastrand::f64());
        if let Some(slot) = state.slots.iter_mut().min() {
            // Worked on when a slot is free: the wait is part of the latency.
            let start = (*slot).max(now);
            *slot = start + latency;
            latency = *slot - now;
        }
        state.held.retain(|done| *done > now);
        state.held.push(now + latency);
        state.served.most_held = state.served.most_held.max(state.held.len());
        let draw = fastrand::f64();
        if draw < self.limits.server_errors {
            state.served.failed += 1;
            let reply = Reply::json(
                500,
                &json!({"error": {"message": "internal error", "type": "server_error"}}),
            );
            return self.with_headers(reply, &state).delayed(latency);
        }
        if draw < self.limits.server_errors + self.limits.dropped {
            state.served.failed += 1;
            return Reply::sse_raw("").ending(Ending::Abort).delayed(latency);
        }
        *state.served.answered.entry(key.clone()).or_default() += 1;
        let completion_tokens = self
            .limits
            .completion_tokens
            .min(max_tokens.unwrap_or(u64::MAX));
        let text = format!("answer to {key}");
        let usage = json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens * choices,
            "total_tokens": prompt + completion_tokens * choices
        });
        let streamed = body["stream"] == true;
        // As OpenAI does: a stream's usage only when asked for.
        let usage_streamed = body["stream_options"]["include_usage"] == true;
        let reply = if streamed {
            let chunk = |delta: Value, finish: Value| {
                json!({
                    "id": "chatcmpl-l", "object": "chat.completion.chunk", "created": 1, "model": "qwen-turbo",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
                })
            };
            let mut events = vec![
                chunk(json!({"role": "assistant", "content": text}), Value::Null),
                chunk(json!({}), json!("stop")),
            ];
            if usage_streamed {
                let mut last = json!({"id": "chatcmpl-l", "object": "chat.completion.chunk", "created": 1, "model": "qwen-turbo", "choices": []});
                last["usage"] = usage;
                events.push(last);
            }
            Reply::sse(&events)
        } else {
            let choices: Vec<Value> = (0..choices)
                .map(|index| json!({"index": index, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}))
                .collect();
            Reply::json(
                200,
                &json!({"id": "chatcmpl-l", "object": "chat.completion", "created": 1,
                    "model": "qwen-turbo", "choices": choices, "usage": usage}),
            )
        };
        self.with_headers(reply, &state).delayed(latency)
    }

    fn with_headers(&self, reply: Reply, state: &State) -> Reply {
        if !self.limits.headers {
            return reply;
        }
        let reset = |bucket: &Bucket| {
            let seconds = ((bucket.capacity - bucket.level) / bucket.rate).max(0.0);
            format!("{}ms", (seconds * 1000.0).ceil() as u64)
        };
        let mut reply = reply;
        for (kind, limit, bucket) in [
            ("requests", self.limits.requests_per_minute, &state.requests),
            ("tokens", self.limits.tokens_per_minute, &state.tokens),
        ] {
            if limit != u64::MAX {
                reply = reply.header(&format!("x-ratelimit-limit-{kind}"), &limit.to_string());
            }
            if limit != u64::MAX && self.limits.remaining {
                reply = reply
                    .header(
                        &format!("x-ratelimit-remaining-{kind}"),
                        &(bucket.level.max(0.0) as u64).to_string(),
                    )
                    .header(&format!("x-ratelimit-reset-{kind}"), &reset(bucket));
            }
        }
        reply
    }
}
