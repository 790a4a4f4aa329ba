//! `gptproto chat`: one question, or a conversation on a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use gptproto::proto::wire::Stop;
use gptproto::{ChatCompletion, ChatRequest, Client, Message, ResponseFormat};

use crate::args::{ChatArgs, Format};
use crate::connection;
use crate::exit::Failure;
use crate::input;

pub(crate) async fn run(args: ChatArgs) -> Result<(), Failure> {
    let client = client(&args)?;
    let base = base_request(&args)?;
    if args.prompt.is_none() && std::io::stdin().is_terminal() {
        return converse(&client, base, &args).await;
    }
    let prompt = input::prompt(args.prompt.clone())?;
    let request = base.message(Message::user(input::user_content(&prompt, &args.image)?));
    let completion = ask(&client, request, &args).await?;
    if args.json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &completion).map_err(std::io::Error::other)?;
        writeln!(stdout)?;
    }
    Ok(())
}

fn client(args: &ChatArgs) -> Result<Client, Failure> {
    let mut builder = connection::builder(&args.connection)?;
    if let Some(seconds) = args.timeout {
        let timeout = Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| {
                Failure::Usage(format!(
                    "--timeout {seconds}: give a positive number of seconds"
                ))
            })?;
        builder = builder.timeout(timeout);
    }
    if let Some(retries) = args.max_retries {
        builder = builder.max_retries(retries);
    }
    builder
        .build()
        .map_err(|error| Failure::Usage(format!("{error:#}")))
}

/// The request without the user's message: model, system message and parameters.
fn base_request(args: &ChatArgs) -> Result<ChatRequest, Failure> {
    let mut request = ChatRequest::new(&args.model);
    if let Some(system) = &args.system {
        request = request.system(system.as_str());
    }
    request.max_tokens = args.max_tokens;
    request.n = args.n;
    request.temperature = args.temperature;
    request.top_p = args.top_p;
    request.seed = args.seed;
    if !args.stop.is_empty() {
        request.stop = Some(Stop::Many(args.stop.clone()));
    }
    request.response_format = match &args.response_format {
        None => None,
        Some(Format::Text) => Some(ResponseFormat::Text),
        Some(Format::JsonObject) => Some(ResponseFormat::JsonObject),
        Some(Format::JsonSchema(file)) => Some(input::json_schema_format(file)?),
    };
    let request = request.stream(!args.no_stream);
    match input::extra(args.extra.as_deref())? {
        Some(extra) => request
            .merge_json(extra)
            .map_err(|error| Failure::Usage(format!("--extra: {error}"))),
        None => Ok(request),
    }
}

/// Sends `request`, printing the answer's text as it arrives unless `--json`; returns the
/// whole answer.
async fn ask(
    client: &Client,
    request: ChatRequest,
    args: &ChatArgs,
) -> Result<ChatCompletion, Failure> {
    if !request.is_stream() {
        let completion = client.chat(request).await?;
        if !args.json {
            print_choices(&completion)?;
        }
        return Ok(completion);
    }
    let stream = client.chat_stream(request).await?;
    if args.json || args.n.is_some_and(|n| n > 1) {
        let completion = stream.into_completion().await?;
        if !args.json {
            print_choices(&completion)?;
        }
        return Ok(completion);
    }
    let mut stream = stream;
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut ends_with_newline = true;
    let mut reasoning = false;
    while let Some(chunk) = stream.next_chunk().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                if !ends_with_newline && std::io::stderr().is_terminal() {
                    // The error message starts on its own line on a terminal.
                    writeln!(stderr)?;
                }
                return Err(error.into());
            }
        };
        let Some(choice) = chunk.choices.first() else {
            continue;
        };
        if let Some(thought) = choice.delta.reasoning_text().filter(|t| !t.is_empty()) {
            write!(stderr, "{thought}")?;
            stderr.flush()?;
            reasoning = true;
        }
        if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
            if reasoning {
                writeln!(stderr)?;
                reasoning = false;
            }
            write!(stdout, "{text}")?;
            stdout.flush()?;
            ends_with_newline = text.ends_with('\n');
        }
        if let Some(refusal) = choice.delta.refusal.as_deref().filter(|t| !t.is_empty()) {
            write!(stderr, "{refusal}")?;
        }
    }
    if !ends_with_newline {
        writeln!(stdout)?;
    }
    Ok(stream.snapshot())
}

fn print_choices(completion: &ChatCompletion) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    let many = completion.choices.len() > 1;
    for choice in &completion.choices {
        if let Some(thought) = choice.message.reasoning_text().filter(|t| !t.is_empty()) {
            eprintln!("{thought}");
        }
        if many {
            writeln!(stdout, "--- choice {} ---", choice.index)?;
        }
        let text = choice.message.text().unwrap_or_default();
        if text.ends_with('\n') {
            write!(stdout, "{text}")?;
        } else {
            writeln!(stdout, "{text}")?;
        }
        if let Some(refusal) = &choice.message.refusal {
            eprintln!("refusal: {refusal}");
        }
    }
    Ok(())
}

/// A conversation on a terminal: each answer is kept, so the model sees the whole exchange.
async fn converse(
    client: &Client,
    mut conversation: ChatRequest,
    args: &ChatArgs,
) -> Result<(), Failure> {
    eprintln!(
        "gptproto chat with {} — an empty line or Ctrl-D ends it.",
        args.model
    );
    let mut first = true;
    loop {
        eprint!("> ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let read = tokio::task::spawn_blocking(move || {
            std::io::stdin().read_line(&mut line).map(|n| (n, line))
        })
        .await
        .map_err(|error| Failure::Usage(format!("{error:#}")))?
        .map_err(Failure::Output)?;
        let (n, line) = read;
        let line = line.trim_end_matches(['\n', '\r']);
        if n == 0 || line.trim().is_empty() || line.trim() == "/exit" {
            return Ok(());
        }
        let content = if first {
            input::user_content(line, &args.image)?
        } else {
            gptproto::Content::Text(line.to_owned())
        };
        first = false;
        conversation = conversation.message(Message::user(content));
        match ask(client, conversation.clone(), args).await {
            Ok(completion) => {
                if let Some(choice) = completion.choices.into_iter().next() {
                    conversation = conversation.message(choice.message);
                }
            }
            Err(Failure::Api(error)) => {
                eprintln!("gptproto: {error:#}");
                conversation.messages.pop();
            }
            Err(other) => return Err(other),
        }
    }
}
