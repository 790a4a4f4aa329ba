//! `gptproto chat`: one question, or a conversation on a terminal.

use std::io::{BufWriter, IsTerminal, Write};
use std::task::Poll;
use std::time::{Duration, Instant};

use gptproto::proto::exchange::SECRET_HEADERS;
use gptproto::proto::wire::ChunkView;
use gptproto::proto::wire::Stop;
use gptproto::{ChatCompletion, ChatRequest, Client, Message, ResponseFormat, Role};

use crate::args::{ChatArgs, Format};
use crate::exit::Failure;
use crate::input;
use crate::render::{self, Palette, Renderer};
use crate::session::{Answer, Session};
use crate::settings::{self, Connection};
use crate::{Context, attach, connection, extract, repl};

pub(crate) async fn run(mut args: ChatArgs, context: Context<'_>) -> Result<(), Failure> {
    settings::apply_to_chat(&mut args, context.origins, &context.loaded);
    // Files first: `-f -` takes standard input before anything else could.
    let files = attach::read(&args.files)?;
    let connection =
        settings::connection(&args.connection, context.origins, &context.loaded, true)?;
    let client = client(&args, &connection)?;
    let session = Session::start(&args, &context.loaded, &connection)?;
    let base = session.resume(base_request(&args)?);
    let interactive = std::io::stdin().is_terminal();
    if args.prompt.is_none() && files.is_empty() && interactive && !args.dry_run {
        if std::io::stdout().is_terminal() {
            return repl::run(&client, base, &args, session).await;
        }
        return converse(&client, base, &args, &session).await;
    }
    let prompt = if args.files.iter().any(|file| file == "-")
        || (!files.is_empty() && args.prompt.is_none() && interactive)
    {
        // Standard input is a file's (or a terminal): the prompt is the argument, if any.
        match args.prompt.as_deref() {
            Some("-") => {
                return Err(Failure::Usage(
                    "the prompt cannot come from stdin with -f -: give it as an argument"
                        .to_owned(),
                ));
            }
            prompt => prompt.unwrap_or_default().to_owned(),
        }
    } else {
        input::prompt(args.prompt.clone())?
    };
    let prompt = attach::prompt_with(&prompt, &files);
    if prompt.trim().is_empty() {
        return Err(Failure::Usage("the prompt is empty".to_owned()));
    }
    let request = base.message(Message::user(input::user_content(&prompt, &args.image)?));
    if args.dry_run {
        return dry_run(&client, &request);
    }
    let started = Instant::now();
    let outcome = ask(&client, request.clone(), &args).await;
    session.record(
        &request,
        outcome.as_ref().map_err(failure_text),
        started.elapsed(),
    );
    let Answer {
        completion,
        first_token,
        ..
    } = outcome?;
    if args.json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &completion).map_err(std::io::Error::other)?;
        writeln!(stdout)?;
    } else if args.extract {
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
    if args.usage {
        eprintln!(
            "{}",
            usage_line(&completion, started.elapsed(), first_token)
        );
    }
    Ok(())
}

/// What the history says of a failed exchange.
pub(crate) fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Api(error) => format!("{error:#}"),
        other => format!("{other:?}"),
    }
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
    format!(
        "usage: {} tokens in, {} out{first}{rate}; {:.2} s in all",
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

fn client(args: &ChatArgs, connection: &Connection) -> Result<Client, Failure> {
    let mut builder = connection::builder(connection)?;
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
    let mut request = ChatRequest::new(model(args));
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
    let request = match &args.profile_extra {
        Some(extra) => request
            .merge_json(extra.clone())
            .map_err(|error| Failure::Usage(format!("the profile's extra: {error}")))?,
        None => request,
    };
    match input::extra(args.extra.as_deref())? {
        Some(extra) => request
            .merge_json(extra)
            .map_err(|error| Failure::Usage(format!("--extra: {error}"))),
        None => Ok(request),
    }
}

/// The model (the profile's or the default once settings are applied).
pub(crate) fn model(args: &ChatArgs) -> &str {
    args.model.as_deref().unwrap_or(settings::DEFAULT_MODEL)
}

/// Sends `request`, printing the answer's text as it arrives unless `--json` or `-x`; returns
/// the whole answer, when streamed the time its first token took, and the request id.
pub(crate) async fn ask(
    client: &Client,
    request: ChatRequest,
    args: &ChatArgs,
) -> Result<Answer, Failure> {
    let quiet = args.json || args.extract;
    if !request.is_stream() {
        let (completion, meta) = client.chat(request).with_response().await?;
        if !quiet {
            print_choices(&completion, args)?;
        }
        return Ok(Answer {
            completion,
            first_token: None,
            request_id: meta.request_id().map(str::to_owned),
        });
    }
    let started = Instant::now();
    let mut stream = client.chat_stream(request).await?;
    // Live: the first choice's text as it arrives; otherwise the whole answer at the end.
    let live = !quiet && args.n.is_none_or(|n| n <= 1);
    let mut shown = Live::new(args, live, started);
    // Each chunk is looked at where it was decoded (no owned chunk is built); what it shows is
    // written out when the stream waits on the network, not chunk by chunk.
    let ended = std::future::poll_fn(|cx| {
        loop {
            match stream.poll_next_with(cx, |chunk| shown.chunk(&chunk)) {
                Poll::Ready(Some(Ok(written))) => {
                    if let Err(error) = written {
                        return Poll::Ready(Err(Failure::Output(error)));
                    }
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(error.into())),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    return match shown.flush() {
                        Ok(()) => Poll::Pending,
                        Err(error) => Poll::Ready(Err(Failure::Output(error))),
                    };
                }
            }
        }
    })
    .await;
    if let Err(failure) = ended {
        // What arrived stays shown; the error message starts on its own line.
        shown.interrupted()?;
        return Err(failure);
    }
    let completion = stream.snapshot();
    let request_id = stream.request_id().map(str::to_owned);
    let first_token = shown.first_token;
    if live {
        shown.finish()?;
    } else if !quiet {
        drop(shown);
        print_choices(&completion, args)?;
    }
    Ok(Answer {
        completion,
        first_token,
        request_id,
    })
}

/// A streamed answer as it is shown: the first choice's text on stdout (when live), its
/// reasoning and refusal on stderr, and when its first token came.
struct Live {
    /// `None` when nothing is shown as it arrives (`--json`, `-x`, several choices).
    stdout: Option<Text>,
    stderr: BufWriter<std::io::StderrLock<'static>>,
    /// Whether the last thing on stderr was reasoning (a line ends it before the answer).
    reasoning: bool,
    started: Instant,
    first_token: Option<Duration>,
}

impl Live {
    fn new(args: &ChatArgs, live: bool, started: Instant) -> Self {
        Self {
            stdout: live.then(|| Text::new(args)),
            stderr: BufWriter::new(std::io::stderr().lock()),
            reasoning: false,
            started,
            first_token: None,
        }
    }

    /// One chunk, lent by the stream.
    fn chunk(&mut self, chunk: &ChunkView<'_>) -> std::io::Result<()> {
        let Some(choice) = chunk.choices.first() else {
            return Ok(());
        };
        let text = choice.delta.content.as_deref().filter(|t| !t.is_empty());
        let thought = choice.delta.reasoning_text().filter(|t| !t.is_empty());
        if self.first_token.is_none() && (text.is_some() || thought.is_some()) {
            self.first_token = Some(self.started.elapsed());
        }
        let Some(stdout) = &mut self.stdout else {
            return Ok(());
        };
        if let Some(thought) = thought {
            self.stderr.write_all(thought.as_bytes())?;
            self.reasoning = true;
        }
        if let Some(text) = text {
            if std::mem::take(&mut self.reasoning) {
                writeln!(self.stderr)?;
                // The reasoning is shown before the answer starts.
                self.stderr.flush()?;
            }
            stdout.push(text)?;
        }
        if let Some(refusal) = choice.delta.refusal.as_deref().filter(|t| !t.is_empty()) {
            self.stderr.write_all(refusal.as_bytes())?;
        }
        Ok(())
    }

    /// Writes out what was shown so far (the stream waits on the network).
    fn flush(&mut self) -> std::io::Result<()> {
        self.stderr.flush()?;
        match &mut self.stdout {
            Some(stdout) => stdout.flush(),
            None => Ok(()),
        }
    }

    fn interrupted(&mut self) -> std::io::Result<()> {
        self.stderr.flush()?;
        match &mut self.stdout {
            Some(stdout) => stdout.interrupted(),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.stderr.flush()?;
        match &mut self.stdout {
            Some(stdout) => stdout.finish(),
            None => Ok(()),
        }
    }
}

fn print_choices(completion: &ChatCompletion, args: &ChatArgs) -> Result<(), Failure> {
    let many = completion.choices.len() > 1;
    for choice in &completion.choices {
        if let Some(thought) = choice.message.reasoning_text().filter(|t| !t.is_empty()) {
            eprintln!("{thought}");
        }
        let mut stdout = Text::new(args);
        if many {
            stdout.heading(&format!("--- choice {} ---", choice.index))?;
        }
        stdout.push(choice.message.text().unwrap_or_default())?;
        stdout.finish()?;
        if let Some(refusal) = &choice.message.refusal {
            eprintln!("refusal: {refusal}");
        }
    }
    Ok(())
}

/// Where the answer's text goes: as sent (piped, or `--raw`), or rendered as markdown on a
/// terminal.
///
/// Written through a buffer of its own ([`OUT_BUFFER`]), flushed when the stream waits and at
/// the end: a write to the terminal or pipe per read from the network, not per chunk.
pub(crate) enum Text {
    Raw {
        out: Stdout,
        ends_with_newline: bool,
    },
    /// Boxed: it holds the block being received.
    Rendered(Box<Renderer<Stdout>>),
}

/// Standard output, buffered by us (Rust's own is flushed at each line end).
type Stdout = BufWriter<std::io::StdoutLock<'static>>;

/// The most text held before it is written out, the stream waiting or not.
const OUT_BUFFER: usize = 64 * 1024;

impl Text {
    pub(crate) fn new(args: &ChatArgs) -> Self {
        let out = BufWriter::with_capacity(OUT_BUFFER, std::io::stdout().lock());
        if args.raw || !std::io::stdout().is_terminal() {
            Self::Raw {
                out,
                ends_with_newline: true,
            }
        } else {
            let palette = Palette {
                colour: render::colour_wanted(),
            };
            Self::Rendered(Box::new(Renderer::new(
                out,
                render::terminal_width(),
                palette,
            )))
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> std::io::Result<()> {
        match self {
            Self::Raw {
                out,
                ends_with_newline,
            } => {
                if text.is_empty() {
                    return Ok(());
                }
                out.write_all(text.as_bytes())?;
                *ends_with_newline = text.ends_with('\n');
                Ok(())
            }
            Self::Rendered(renderer) => renderer.push(text),
        }
    }

    /// Writes out what was taken in so far.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Raw { out, .. } => out.flush(),
            Self::Rendered(renderer) => renderer.flush(),
        }
    }

    /// A line of its own, before the text.
    fn heading(&mut self, line: &str) -> std::io::Result<()> {
        match self {
            Self::Raw { out, .. } => writeln!(out, "{line}"),
            Self::Rendered(renderer) => renderer.push(&format!("{line}\n\n")),
        }
    }

    /// The text was cut by an error: piped, it stays as it came (the error's message starts
    /// on a line of its own on a terminal's stderr); rendered, what arrived is shown.
    fn interrupted(&mut self) -> std::io::Result<()> {
        match self {
            Self::Raw {
                out,
                ends_with_newline,
            } => {
                out.flush()?;
                if !*ends_with_newline && std::io::stderr().is_terminal() {
                    eprintln!();
                }
                Ok(())
            }
            Self::Rendered(renderer) => renderer.finish(),
        }
    }

    /// The text ends: the last line ended, what is left rendered.
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Self::Raw {
                out,
                ends_with_newline,
            } => {
                if !*ends_with_newline {
                    writeln!(out)?;
                    *ends_with_newline = true;
                }
                out.flush()
            }
            Self::Rendered(renderer) => renderer.finish(),
        }
    }
}

/// A conversation on a terminal: each answer is kept, so the model sees the whole exchange;
/// a continued conversation shows what was said before.
async fn converse(
    client: &Client,
    mut conversation: ChatRequest,
    args: &ChatArgs,
    session: &Session,
) -> Result<(), Failure> {
    eprintln!(
        "gptproto chat with {} — an empty line or Ctrl-D ends it.",
        model(args)
    );
    show_earlier(session, args)?;
    let mut first = session.earlier().is_empty();
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
        let started = Instant::now();
        let outcome = ask(client, conversation.clone(), args).await;
        settle_turn(&mut conversation, session, outcome, started.elapsed())?;
    }
}

/// A continued conversation's messages so far: the user's on stderr after a prompt, the
/// answers as answers are shown.
pub(crate) fn show_earlier(session: &Session, args: &ChatArgs) -> Result<(), Failure> {
    for message in session.earlier() {
        let text = message.text().unwrap_or_default().trim_end();
        match message.role {
            Role::User => eprintln!("> {}", text.replace('\n', "\n  ")),
            Role::Assistant => {
                let mut out = Text::new(args);
                out.push(text)?;
                out.finish()?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A turn's end in a conversation: recorded; the answer kept, or the question taken back
/// after an API error (said on stderr) so that the conversation goes on.
pub(crate) fn settle_turn(
    conversation: &mut ChatRequest,
    session: &Session,
    outcome: Result<Answer, Failure>,
    took: Duration,
) -> Result<(), Failure> {
    session.record(conversation, outcome.as_ref().map_err(failure_text), took);
    match outcome {
        Ok(answer) => {
            if let Some(choice) = answer.completion.choices.into_iter().next() {
                conversation.messages.push(choice.message);
            }
            Ok(())
        }
        Err(Failure::Api(error)) => {
            eprintln!("gptproto: {error:#}");
            conversation.messages.pop();
            Ok(())
        }
        Err(other) => Err(other),
    }
}
