//! `gptproto logs`: the history of `chat`.

use std::io::Write;

use crate::args::{LogsArgs, LogsCommand};
use crate::exit::Failure;
use crate::history::{self, History, Query, Row};

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
    writeln!(out, "[{}]", figures.join(", "))
}
