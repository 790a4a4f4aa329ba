//! `gptproto logs`: the history of `chat`.

use std::io::Write;

use crate::args::{LogsArgs, LogsCommand};
use crate::cost;
use crate::exit::Failure;
use crate::history::{self, History, Query, Row, Totals};

pub(crate) fn run(args: &LogsArgs) -> Result<(), Failure> {
    let path = history::path().ok_or_else(|| {
        Failure::Usage(format!(
            "no data directory (HOME is not set?): set {} to the history's file",
            history::ENV_HISTORY
        ))
    })?;
    if let Some(LogsCommand::Path) = args.show {
        println!("{}", path.display());
        return Ok(());
    }
    if !path.exists() {
        return Err(Failure::Usage(format!(
            "no history yet at {} (`gptproto chat` records each exchange)",
            path.display()
        )));
    }
    let history = History::open(&path).map_err(Failure::Usage)?;
    let failed = |error: rusqlite::Error| Failure::Usage(format!("{}: {error}", path.display()));
    let mut out = std::io::stdout().lock();
    match &args.show {
        Some(LogsCommand::Show { id, json }) => {
            let Some((row, request, response)) = history.get(*id).map_err(failed)? else {
                return Err(Failure::Usage(format!(
                    "no exchange {id} in {}",
                    path.display()
                )));
            };
            if *json {
                let whole =
                    serde_json::json!({"exchange": row, "request": request, "response": response});
                serde_json::to_writer_pretty(&mut out, &whole).map_err(std::io::Error::other)?;
                writeln!(out)?;
            } else {
                summary(&mut out, &row)?;
                writeln!(out, "request:")?;
                serde_json::to_writer_pretty(&mut out, &request).map_err(std::io::Error::other)?;
                writeln!(out)?;
                if let Some(response) = response {
                    writeln!(out, "response:")?;
                    serde_json::to_writer_pretty(&mut out, &response)
                        .map_err(std::io::Error::other)?;
                    writeln!(out)?;
                }
            }
        }
        _ if args.usage => {
            let since = match &args.since {
                Some(since) => since_ms(since, now_ms())?,
                None => 0,
            };
            let totals = history.usage(args.by, since).map_err(failed)?;
            if args.json {
                serde_json::to_writer_pretty(&mut out, &totals).map_err(std::io::Error::other)?;
                writeln!(out)?;
            } else {
                usage_table(&mut out, &totals)?;
            }
        }
        _ => {
            let rows = history
                .list(&Query {
                    limit: args.count,
                    text: args.text.as_deref(),
                    conversation: args.cid.as_deref(),
                })
                .map_err(failed)?;
            if args.json {
                serde_json::to_writer_pretty(&mut out, &rows).map_err(std::io::Error::other)?;
                writeln!(out)?;
            } else {
                // Oldest first, as a conversation reads.
                for row in rows.iter().rev() {
                    summary(&mut out, row)?;
                    writeln!(out)?;
                }
            }
        }
    }
    Ok(())
}

/// An exchange in a few lines: which, when, what was asked, what came back, what it cost.
fn summary(out: &mut impl Write, row: &Row) -> std::io::Result<()> {
    let profile = row
        .profile
        .as_ref()
        .map_or(String::new(), |profile| format!(", profile {profile}"));
    writeln!(
        out,
        "#{} {} UTC, {}{profile}, conversation {}",
        row.id, row.time, row.model, row.conversation
    )?;
    writeln!(out, "> {}", row.prompt.trim_end().replace('\n', "\n> "))?;
    match (&row.response, &row.error) {
        (_, Some(error)) => writeln!(out, "error: {error}")?,
        (Some(response), None) => writeln!(out, "{}", response.trim_end())?,
        (None, None) => {}
    }
    let mut figures = Vec::new();
    if let (Some(input), Some(output)) = (row.input_tokens, row.output_tokens) {
        figures.push(format!("{input} tokens in, {output} out"));
    }
    if let Some(first) = row.first_token_ms {
        figures.push(format!("first token {:.2} s", first as f64 / 1000.0));
    }
    figures.push(format!("{:.2} s", row.duration_ms as f64 / 1000.0));
    if let Some(reason) = &row.finish_reason {
        figures.push(format!("finish {reason}"));
    }
    if let Some(id) = &row.request_id {
        figures.push(format!("request id {id}"));
    }
    if let Some(amount) = row.cost {
        figures.push(format!("cost {}", cost::shown(amount)));
    }
    writeln!(out, "[{}]", figures.join(", "))
}

/// `logs --usage`: one line per group, then the whole.
fn usage_table(out: &mut impl Write, totals: &[Totals]) -> std::io::Result<()> {
    if totals.is_empty() {
        return writeln!(out, "no exchanges recorded in that time");
    }
    writeln!(
        out,
        "{:<24} {:>9} {:>12} {:>10} {:>12} {:>10} {:>12}",
        "", "exchanges", "input", "cached", "output", "reasoning", "cost"
    )?;
    let mut all = Totals {
        group: "all".to_owned(),
        ..Totals::default()
    };
    let line = |out: &mut dyn Write, t: &Totals| {
        let unpriced = if t.unpriced > 0 {
            format!(" ({} unpriced)", t.unpriced)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:<24} {:>9} {:>12} {:>10} {:>12} {:>10} {:>12}{unpriced}",
            t.group,
            t.exchanges,
            t.input_tokens,
            t.cached_tokens,
            t.output_tokens,
            t.reasoning_tokens,
            cost::shown(t.cost)
        )
    };
    for group in totals {
        line(out, group)?;
        all.exchanges += group.exchanges;
        all.input_tokens += group.input_tokens;
        all.cached_tokens += group.cached_tokens;
        all.output_tokens += group.output_tokens;
        all.reasoning_tokens += group.reasoning_tokens;
        all.cost += group.cost;
        all.unpriced += group.unpriced;
    }
    if totals.len() > 1 {
        line(out, &all)?;
    }
    Ok(())
}

/// `--since`: `YYYY-MM-DD` (UTC midnight) or `Nd` (N days before `now_ms`), as Unix ms.
fn since_ms(since: &str, now_ms: i64) -> Result<i64, Failure> {
    let usage = || {
        Failure::Usage(format!(
            "--since {since:?}: give a date (YYYY-MM-DD) or a number of days (7d)"
        ))
    };
    if let Some(days) = since.strip_suffix('d') {
        let days: i64 = days.parse().map_err(|_| usage())?;
        return Ok(now_ms - days * 86_400_000);
    }
    let mut parts = since.splitn(3, '-').map(str::parse::<i64>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(usage());
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(usage());
    }
    Ok(days_from_civil(year, month, day) * 86_400_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_date_or_a_number_of_days_and_names_what_it_wants() {
        assert_eq!(since_ms("1970-01-02", 0).unwrap(), 86_400_000);
        assert_eq!(since_ms("2026-12-05", 0).unwrap(), 1_796_428_800_000);
        assert_eq!(since_ms("2000-03-01", 0).unwrap(), 951_868_800_000);
        assert_eq!(since_ms("7d", 10 * 86_400_000).unwrap(), 3 * 86_400_000);
        for bad in ["yesterday", "2026-13-01", "2026-12", "d", "7 d"] {
            let Err(Failure::Usage(message)) = since_ms(bad, 0) else {
                panic!("{bad} accepted");
            };
            assert!(message.contains("--since"), "{message}");
        }
    }
}
