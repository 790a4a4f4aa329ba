//! What an answer cost, at the prices of the configuration (`[prices."MODEL"]`).

use std::io::Write;

use gptproto::ChatCompletion;
use gptproto::proto::price::{Cost, PriceTable};

use crate::config::Loaded;
use crate::exit::Failure;

/// The cost of `completion` and the price entry that gave it: the answering model's (as the
/// server names it), else the model asked for. `None` without usage or a price for it.
pub(crate) fn of<'p>(
    prices: &'p PriceTable,
    completion: &ChatCompletion,
    asked: &str,
) -> Option<(&'p str, Cost)> {
    let usage = completion.usage.as_ref()?;
    let answered = completion.model.as_str();
    let (entry, price) = prices.entry(answered).or_else(|| prices.entry(asked))?;
    Some((entry, price.cost(usage)))
}

/// An amount as `-u`, `logs` and `prices` show it: enough digits for a single short answer.
pub(crate) fn shown(amount: f64) -> String {
    if amount == 0.0 {
        "0".to_owned()
    } else if amount < 0.01 {
        format!("{amount:.6}")
    } else {
        format!("{amount:.4}")
    }
}

/// `gptproto prices`: the table that applies, or how to write one.
pub(crate) fn show_prices(loaded: &Loaded, json: bool) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &loaded.prices).map_err(std::io::Error::other)?;
        writeln!(out)?;
        return Ok(());
    }
    if loaded.prices.is_empty() {
        writeln!(
            out,
            "no prices in {}: add one for each model, per million tokens —\n\n[prices.\"qwen-turbo\"]\ninput = 0.05\noutput = 0.2\ncached-input = 0.01   # optional\nbatch-factor = 0.5    # optional",
            loaded.path.display()
        )?;
        return Ok(());
    }
    let from = match loaded.profile_name() {
        Some(name) if loaded.profile.prices.is_some() => {
            format!(
                "{} (profile {name}'s over the file's)",
                loaded.path.display()
            )
        }
        _ => loaded.path.display().to_string(),
    };
    writeln!(out, "per million tokens, from {from}")?;
    writeln!(
        out,
        "{:<28} {:>10} {:>10} {:>13} {:>13}",
        "model", "input", "output", "cached input", "batch factor"
    )?;
    let optional = |value: Option<f64>| value.map_or("-".to_owned(), |value| value.to_string());
    for (model, price) in loaded.prices.iter() {
        writeln!(
            out,
            "{model:<28} {:>10} {:>10} {:>13} {:>13}",
            price.input,
            price.output,
            optional(price.cached_input),
            optional(price.batch_factor)
        )?;
    }
    Ok(())
}
