//! What an answer cost: a model's [`Price`] per million tokens, applied to its [`Usage`].
//!
//! There is no bundled price list: prices change, and an aggregator's differ from the model
//! maker's. A [`PriceTable`] is what the user writes (the CLI reads it from its config file), in
//! whatever currency they are billed in; a [`Cost`] is in that currency.
//!
//! ```
//! use gptproto_proto::price::{Price, PriceTable};
//! use gptproto_proto::wire::Usage;
//!
//! let mut prices = PriceTable::new();
//! prices.insert("qwen-turbo", Price::new(0.05, 0.2).with_cached_input(0.01))?;
//! let usage: Usage = serde_json::from_str(
//!     r#"{"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
//!         "prompt_tokens_details": {"cached_tokens": 400}}"#,
//! )?;
//! // A dated snapshot is priced as its model.
//! let cost = prices.get("qwen-turbo-2025-04-28").unwrap().cost(&usage);
//! // 600 × 0.05 + 400 × 0.01 + 500 × 0.2, per million.
//! assert!((cost.total() - 0.000134).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ratelimit::Reservation;
use crate::wire::Usage;

/// A model's price per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub struct Price {
    /// Prompt tokens.
    pub input: f64,
    /// Generated tokens, reasoning included.
    pub output: f64,
    /// Prompt tokens served from the provider's cache (`None`: priced as `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// What a batch pays of these prices (`None`: all of it; OpenAI's batch API: 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_factor: Option<f64>,
}

impl Price {
    /// Input and output prices per million tokens.
    pub fn new(input: f64, output: f64) -> Self {
        Self {
            input,
            output,
            cached_input: None,
            batch_factor: None,
        }
    }

    /// The price of a cached prompt token, per million.
    #[must_use]
    pub fn with_cached_input(mut self, price: f64) -> Self {
        self.cached_input = Some(price);
        self
    }

    /// The share of these prices a batch pays.
    #[must_use]
    pub fn with_batch_factor(mut self, factor: f64) -> Self {
        self.batch_factor = Some(factor);
        self
    }

    /// Why this price cannot be used: a number that is negative or not finite, a batch factor
    /// above 1. `None` when it can.
    pub fn problem(&self) -> Option<String> {
        let fields = [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cached-input", self.cached_input),
            ("batch-factor", self.batch_factor),
        ];
        for (name, value) in fields {
            if let Some(value) = value
                && !(value.is_finite() && value >= 0.0)
            {
                return Some(format!("{name} = {value}: give a number ≥ 0"));
            }
        }
        match self.batch_factor {
            Some(factor) if factor > 1.0 => Some(format!(
                "batch-factor = {factor}: a share of the price, at most 1"
            )),
            _ => None,
        }
    }

    /// What `usage` cost at this price.
    pub fn cost(&self, usage: &Usage) -> Cost {
        let cached = usage.cached_prompt_tokens().min(usage.prompt_tokens);
        let priced = |tokens: u64, per_million: f64| tokens as f64 * per_million / 1_000_000.0;
        Cost {
            input: priced(usage.prompt_tokens - cached, self.input),
            cached_input: priced(cached, self.cached_input.unwrap_or(self.input)),
            output: priced(usage.completion_tokens, self.output),
        }
    }

    /// What `usage` cost in a batch (the batch factor applied).
    pub fn batch_cost(&self, usage: &Usage) -> Cost {
        self.cost(usage).times(self.batch_factor.unwrap_or(1.0))
    }
}

/// What an answer cost, in the price table's currency.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Cost {
    /// The prompt tokens not served from cache.
    pub input: f64,
    /// The prompt tokens served from cache.
    pub cached_input: f64,
    /// The generated tokens.
    pub output: f64,
}

impl Cost {
    /// All of it.
    pub fn total(&self) -> f64 {
        self.input + self.cached_input + self.output
    }

    /// This cost scaled by `factor`.
    #[must_use]
    pub fn times(self, factor: f64) -> Self {
        Self {
            input: self.input * factor,
            cached_input: self.cached_input * factor,
            output: self.output * factor,
        }
    }
}

impl std::ops::Add for Cost {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            input: self.input + other.input,
            cached_input: self.cached_input + other.cached_input,
            output: self.output + other.output,
        }
    }
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

/// Prices by model id.
///
/// A model is priced by its own entry, else by the longest entry it extends after a `-` (a
/// dated snapshot, `qwen-turbo-2025-04-28`, by `qwen-turbo`). `gpt-4o-mini` would be priced as
/// `gpt-4o` if it had no entry of its own: write the specific entries; the longest one wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `model`'s price; an unusable one is refused, naming the model and the field.
    pub fn insert(&mut self, model: impl Into<String>, price: Price) -> Result<(), String> {
        let model = model.into();
        if let Some(problem) = price.problem() {
            return Err(format!("the price of {model}: {problem}"));
        }
        self.prices.insert(model, price);
        Ok(())
    }

    /// Every entry of `other` over this table's (a profile's prices over the file's).
    pub fn extend(&mut self, other: &Self) {
        for (model, price) in &other.prices {
            self.prices.insert(model.clone(), *price);
        }
    }

    /// The first entry whose price cannot be used, as [`insert`](Self::insert) would say it
    /// (a table read with serde is not checked as it is read).
    pub fn problem(&self) -> Option<String> {
        self.prices.iter().find_map(|(model, price)| {
            price
                .problem()
                .map(|problem| format!("the price of {model}: {problem}"))
        })
    }

    /// The price of `model`, with the entry that gave it.
    pub fn entry(&self, model: &str) -> Option<(&str, &Price)> {
        if let Some((name, price)) = self.prices.get_key_value(model) {
            return Some((name, price));
        }
        self.prices
            .iter()
            .filter(|(name, _)| {
                model
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(name, price)| (name.as_str(), price))
    }

    /// The most a request admitted with `reservation` can cost: its prompt estimate and its
    /// reserved output at its model's price; `None` when the model has no price.
    pub fn most_cost(&self, reservation: &Reservation) -> Option<f64> {
        let price = self.get(&reservation.model)?;
        Some(
            price
                .cost(&Usage::new(reservation.prompt, reservation.output))
                .total(),
        )
    }

    /// The price of `model` ([`entry`](Self::entry) without its name).
    pub fn get(&self, model: &str) -> Option<&Price> {
        self.entry(model).map(|(_, price)| price)
    }

    /// Every entry, by model.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Price)> {
        self.prices
            .iter()
            .map(|(model, price)| (model.as_str(), price))
    }

    /// Whether it has no entry.
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(json: &str) -> Usage {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn cached_and_reasoning_tokens_are_read_from_openai_and_deepseek() {
        let openai = usage(
            r#"{"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 30},
                "completion_tokens_details": {"reasoning_tokens": 20}}"#,
        );
        assert_eq!(openai.cached_prompt_tokens(), 30);
        assert_eq!(openai.reasoning_tokens(), 20);
        let deepseek = usage(
            r#"{"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                "prompt_cache_hit_tokens": 60, "prompt_cache_miss_tokens": 40}"#,
        );
        assert_eq!(deepseek.cached_prompt_tokens(), 60);
        assert_eq!(deepseek.reasoning_tokens(), 0);
    }

    #[test]
    fn a_cost_counts_cached_input_at_its_price_and_a_batch_at_its_factor() {
        let price = Price::new(2.0, 8.0)
            .with_cached_input(0.5)
            .with_batch_factor(0.5);
        let cost = price.cost(&usage(
            r#"{"prompt_tokens": 1000000, "completion_tokens": 250000, "total_tokens": 1250000,
                "prompt_tokens_details": {"cached_tokens": 200000}}"#,
        ));
        assert_eq!(
            (cost.input, cost.cached_input, cost.output),
            (1.6, 0.1, 2.0)
        );
        assert!((cost.total() - 3.7).abs() < 1e-12);
        let batch = price.batch_cost(&usage(
            r#"{"prompt_tokens": 1000000, "completion_tokens": 0, "total_tokens": 1000000}"#,
        ));
        assert!((batch.total() - 1.0).abs() < 1e-12);
        // Without a cached price, cached tokens cost as input; a cached count past the prompt
        // (a server's bad arithmetic) is capped.
        let plain = Price::new(1.0, 1.0).cost(&usage(
            r#"{"prompt_tokens": 10, "completion_tokens": 0, "total_tokens": 10,
                "prompt_tokens_details": {"cached_tokens": 99}}"#,
        ));
        assert!((plain.total() - 10e-6).abs() < 1e-15);
    }

    #[test]
    fn a_model_is_priced_by_its_entry_else_the_longest_it_extends() {
        let mut table = PriceTable::new();
        table.insert("gpt-4o", Price::new(2.5, 10.0)).unwrap();
        table.insert("gpt-4o-mini", Price::new(0.15, 0.6)).unwrap();
        assert_eq!(
            table.entry("gpt-4o-mini-2024-07-18").unwrap().0,
            "gpt-4o-mini"
        );
        assert_eq!(table.entry("gpt-4o-2024-08-06").unwrap().0, "gpt-4o");
        assert_eq!(table.entry("gpt-4o").unwrap().0, "gpt-4o");
        assert!(table.entry("gpt-4").is_none());
        assert!(table.entry("gpt-4omni").is_none());
    }

    #[test]
    fn an_unusable_price_is_refused_naming_the_model_and_field() {
        let mut table = PriceTable::new();
        let error = table.insert("m", Price::new(-1.0, 1.0)).unwrap_err();
        assert_eq!(error, "the price of m: input = -1: give a number ≥ 0");
        let error = table
            .insert("m", Price::new(1.0, 1.0).with_batch_factor(2.0))
            .unwrap_err();
        assert!(error.contains("batch-factor = 2"), "{error}");
        let read: PriceTable =
            serde_json::from_str(r#"{"m": {"input": 1, "output": f}}"#.replace('f', "-2").as_str())
                .unwrap();
        assert_eq!(
            read.problem().unwrap(),
            "the price of m: output = -2: give a number ≥ 0"
        );
        let unknown =
            serde_json::from_str::<PriceTable>(r#"{"m": {"input": 1, "output": 1, "cached": 1}}"#);
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown field `cached`")
        );
    }
}
