//! `gptproto chat`: one question, or a conversation on a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use gptproto::proto::exchange::SECRET_HEADERS;
use gptproto::{ChatCompletion, ChatRequest, Client, Message};

use crate::answer::ask;
use crate::args::ChatArgs;
use crate::conversation::{self, Lines};
use crate::exit::Failure;
use crate::options::ChatOptions;
use crate::repl::Editor;
use crate::session::{self, Answer, Session};
use crate::{Context, attach, connection, cost, extract, fallback, input};

pub(crate) async fn run(args: ChatArgs, context: Context<'_>) -> Result<(), Failure> {
    // Files first: `-f -` takes standard input before anything else could.
    let files = attach::read(&args.files)?;
    let options = ChatOptions::resolve(args, &context)?;
    let client = client(&options)?;
    let fallbacks = fallback::resolve(&options.fallbacks, &context.loaded, &options)?;
    let session = Session::start(&options.history, &context.loaded, &options.connection)?;
    let base = session.resume(options.request.clone());
    let interactive = std::io::stdin().is_terminal();
    if options.prompt.is_none() && files.is_empty() && interactive && !options.dry_run {
        if std::io::stdout().is_terminal() {
            let editor = Editor::new(session.input_history())?;
            return conversation::converse(&client, &fallbacks, base, &options, session, editor)
                .await;
        }
        return conversation::converse(&client, &fallbacks, base, &options, session, Lines).await;
    }
    let prompt = if options.files.iter().any(|file| file == "-")
        || (!files.is_empty() && options.prompt.is_none() && interactive)
    {
        // Standard input is a file's (or a terminal): the prompt is the argument, if any.
        match options.prompt.as_deref() {
            Some("-") => {
                return Err(Failure::Usage(
                    "the prompt cannot come from stdin with -f -: give it as an argument"
                        .to_owned(),
                ));
            }
            prompt => prompt.unwrap_or_default().to_owned(),
        }
    } else {
        input::prompt(options.prompt.clone())?
    };
    let prompt = attach::prompt_with(&prompt, &files);
    if prompt.trim().is_empty() {
        return Err(Failure::Usage("the prompt is empty".to_owned()));
    }
    let request = base.message(Message::user(input::user_content(
        &prompt,
        &options.images,
    )?));
    if options.dry_run {
        return dry_run(&client, &request);
    }
    let started = Instant::now();
    let outcome = ask(&client, request.clone(), &fallbacks, options.output).await;
    session.record(
        &request,
        outcome.as_ref().map_err(session::failure_text),
        started.elapsed(),
    );
    let Answer {
        completion,
        first_token,
        provider,
        ..
    } = outcome?;
    if options.output.json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &completion).map_err(std::io::Error::other)?;
        writeln!(stdout)?;
    } else if options.output.extract {
        let text = completion
            .choices
            .first()
            .and_then(|choice| choice.message.text())
            .unwrap_or_default();
        let block = extract::first_code_block(text);
        if block.is_none() {
            eprintln!("gptproto: the answer has no fenced code block: printing all of it");
        }
        let out = block.unwrap_or(text);
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "{out}")?;
        if !out.is_empty() && !out.ends_with('\n') {
            writeln!(stdout)?;
        }
    }
    if options.output.usage {
        let mut line = usage_line(&completion, started.elapsed(), first_token);
        if !options.fallbacks.is_empty() {
            line.push_str(&format!("; answered by {} ({provider})", completion.model));
        }
        let prices = &context.loaded.prices;
        match cost::of(prices, &completion, options.model()) {
            Some((entry, cost)) => {
                line.push_str(&format!(
                    "; cost {} at {entry}'s price",
                    cost::shown(cost.total())
                ));
            }
            // Prices written, but none for this model: say so (with none, cost is not asked).
            None if !prices.is_empty() && completion.usage.is_some() => {
                line.push_str(&format!(
                    "; no price for {} in the configuration",
                    options.model()
                ));
            }
            None => {}
        }
        eprintln!("{line}");
    }
    Ok(())
}

/// `-u`: tokens in and out, the time to the first token, the tokens per second.
fn usage_line(
    completion: &ChatCompletion,
    total: Duration,
    first_token: Option<Duration>,
) -> String {
    let Some(usage) = &completion.usage else {
        return format!(
            "usage: not reported by the server; {:.2} s in all",
            total.as_secs_f64()
        );
    };
    // The rate of generation: from the first token when it is known (streamed).
    let generating = first_token.map_or(total, |first| total.saturating_sub(first));
    let rate = if generating.is_zero() {
        String::new()
    } else {
        format!(
            ", {:.1} tokens/s",
            usage.completion_tokens as f64 / generating.as_secs_f64()
        )
    };
    let first = first_token.map_or(String::new(), |first| {
        format!(", first token after {:.2} s", first.as_secs_f64())
    });
    let cached = match usage.cached_prompt_tokens() {
        0 => String::new(),
        cached => format!(" ({cached} cached)"),
    };
    let reasoning = match usage.reasoning_tokens() {
        0 => String::new(),
        reasoning => format!(" ({reasoning} reasoning)"),
    };
    format!(
        "usage: {} tokens in{cached}, {} out{reasoning}{first}{rate}; {:.2} s in all",
        usage.prompt_tokens,
        usage.completion_tokens,
        total.as_secs_f64()
    )
}

/// `--dry-run`: the request as the client would send it, the key redacted, on stdout.
fn dry_run(client: &Client, request: &ChatRequest) -> Result<(), Failure> {
    let http = if request.is_stream() {
        client.chat_stream(request.clone()).http_request()
    } else {
        client.chat(request.clone()).http_request()
    }?;
    let headers: serde_json::Map<String, serde_json::Value> = http
        .headers()
        .iter()
        .map(|(name, value)| {
            let shown = if SECRET_HEADERS.contains(&name.as_str()) {
                "<redacted>".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), serde_json::Value::String(shown))
        })
        .collect();
    let body: serde_json::Value =
        serde_json::from_slice(http.body()).map_err(std::io::Error::other)?;
    let shown = serde_json::json!({
        "method": http.method().as_str(),
        "url": http.uri().to_string(),
        "headers": headers,
        "body": body,
    });
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &shown).map_err(std::io::Error::other)?;
    writeln!(stdout)?;
    Ok(())
}

fn client(options: &ChatOptions) -> Result<Client, Failure> {
    connection::chat_client(&options.connection, options)
}
