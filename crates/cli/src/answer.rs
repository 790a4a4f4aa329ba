//! An answer on its way: sent, its chunks shown as they arrive (text to stdout, reasoning to
//! stderr, markdown rendered on a terminal), and the whole answer kept.

use std::io::{BufWriter, IsTerminal, Write};
use std::task::Poll;
use std::time::{Duration, Instant};

use gptproto::proto::wire::ChunkView;
use gptproto::{ChatCompletion, ChatRequest, Client};

use crate::exit::Failure;
use crate::fallback::{self, Fallback};
use crate::options::Output;
use crate::render::{self, Palette, Renderer};
use crate::session::Answer;

/// Sends `request`, printing the answer's text as it arrives unless `--json` or `-x`; returns
/// the whole answer, when streamed the time its first token took, and the request id.
pub(crate) async fn ask(
    client: &Client,
    request: ChatRequest,
    fallbacks: &[Fallback],
    output: Output,
) -> Result<Answer, Failure> {
    let quiet = !output.shows_text();
    if !request.is_stream() {
        let call = fallback::chat(client.chat(request), fallbacks);
        let (completion, meta) = call.with_response().await?;
        if !quiet {
            print_choices(&completion, output)?;
        }
        return Ok(Answer {
            completion,
            first_token: None,
            request_id: meta.request_id().map(str::to_owned),
            provider: meta.provider(),
        });
    }
    let started = Instant::now();
    let call = fallback::stream(client.chat_stream(request), fallbacks);
    let (mut stream, meta) = call.with_response().await?;
    // Live: the first choice's text as it arrives; otherwise the whole answer at the end.
    let live = !quiet && !output.many_choices;
    let mut shown = Live::new(output, live, started);
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
        print_choices(&completion, output)?;
    }
    Ok(Answer {
        completion,
        first_token,
        request_id,
        provider: meta.provider(),
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
    fn new(output: Output, live: bool, started: Instant) -> Self {
        Self {
            stdout: live.then(|| Text::new(output)),
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
        self.then(Text::flush)
    }

    fn interrupted(&mut self) -> std::io::Result<()> {
        self.then(Text::interrupted)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.then(Text::finish)
    }

    /// stderr written out, then `step` of the text shown, if any.
    fn then(&mut self, step: fn(&mut Text) -> std::io::Result<()>) -> std::io::Result<()> {
        self.stderr.flush()?;
        self.stdout.as_mut().map_or(Ok(()), step)
    }
}

pub(crate) fn print_choices(completion: &ChatCompletion, output: Output) -> Result<(), Failure> {
    let many = completion.choices.len() > 1;
    for choice in &completion.choices {
        if let Some(thought) = choice.message.reasoning_text().filter(|t| !t.is_empty()) {
            eprintln!("{thought}");
        }
        let mut stdout = Text::new(output);
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
    pub(crate) fn new(output: Output) -> Self {
        let out = BufWriter::with_capacity(OUT_BUFFER, std::io::stdout().lock());
        if output.raw || !std::io::stdout().is_terminal() {
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
