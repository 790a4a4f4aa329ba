//! [`ChatStream`]: a streamed answer, read from the connection only as fast as it is consumed.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use gptproto_proto::wire::{
    ChatCompletion, ChatCompletionChunk, ChunkChoice, Delta, ToolCallDelta,
};
use gptproto_proto::{StreamDecoder, StreamItem, Text, ViewItem};
use gptproto_transport::ResponseBody;
use http_body::Body;

use crate::deadline::Deadline;
use crate::error::{Error, Result, TimeoutKind};
use crate::rt::{self, Instant, Sleep};
use crate::telemetry::CallRecord;

/// A streamed chat completion: a [`Stream`] of [`ChatCompletionChunk`]s.
///
/// Nothing is read from the connection until the stream is polled, and one body frame at a time:
/// a slow consumer slows the server down (TCP backpressure); there is no background task and no
/// unbounded buffer. Dropping the stream closes the connection.
///
/// The stream ends after `[DONE]`, or when the body ends with every choice finished; a body
/// that ends any other way, or breaks, ends the stream with an error for which
/// [`Error::is_truncated`] is true and [`Error::partial`] holds what arrived.
///
/// ```no_run
/// # async fn demo(client: gptproto::Client) -> Result<(), gptproto::Error> {
/// use futures_util::StreamExt;
/// use gptproto::ChatRequest;
///
/// let mut stream = client
///     .chat_stream(ChatRequest::new("qwen-turbo").user("Tell me a story"))
///     .await?;
/// while let Some(chunk) = stream.next().await {
///     print!("{}", chunk?.text().unwrap_or_default());
/// }
/// # Ok(())
/// # }
/// ```
pub struct ChatStream {
    body: Option<ResponseBody>,
    decoder: StreamDecoder,
    idle_timeout: Option<Duration>,
    idle: Option<Sleep>,
    deadline: Option<(Deadline, Sleep)>,
    request_id: Option<String>,
    ended: bool,
    /// After `[DONE]`: reading what is left of the body to its end (see [`DRAIN_WAIT`]).
    drain: Option<Drain>,
    /// The call's telemetry, ended with the stream (dropped before its end: cancelled).
    record: Option<Box<CallRecord>>,
}

/// How long the stream waits, after `[DONE]`, for the body to end: servers end it right after
/// (HTTP/2's END_STREAM, HTTP/1.1's last chunk), and reading to there ends the exchange cleanly
/// (no RST_STREAM; an HTTP/1.1 connection goes back to the pool). A body still open past this,
/// or longer than [`DRAIN_LIMIT`], is dropped.
const DRAIN_WAIT: Duration = Duration::from_millis(250);
/// The most bytes read after `[DONE]` before the body is dropped.
const DRAIN_LIMIT: usize = 64 * 1024;

/// What bounds a stream: its answer's size, the wait between reads, its deadline.
pub(crate) struct StreamLimits {
    /// The request's `n`.
    pub(crate) expected_choices: u32,
    pub(crate) max_answer: usize,
    pub(crate) idle: Option<Duration>,
    /// The call's or the body's, whichever passes first.
    pub(crate) deadline: Option<Deadline>,
}

struct Drain {
    until: Sleep,
    read: usize,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("chunks", &self.decoder.chunks())
            .field("request_id", &self.request_id)
            .field("body_open", &self.body.is_some())
            .finish()
    }
}

impl ChatStream {
    pub(crate) fn new(
        body: ResponseBody,
        limits: StreamLimits,
        request_id: Option<String>,
    ) -> Self {
        Self {
            body: Some(body),
            decoder: StreamDecoder::new()
                .expect_choices(limits.expected_choices)
                .accumulating()
                .max_answer_bytes(limits.max_answer),
            idle_timeout: limits.idle,
            idle: limits.idle.map(rt::sleep),
            deadline: limits
                .deadline
                .map(|deadline| (deadline, Sleep::until(deadline.at))),
            request_id,
            ended: false,
            drain: None,
            record: None,
        }
    }

    /// A stream of one chunk per choice, for a server that answered in one piece although
    /// asked to stream.
    pub(crate) fn from_completion(completion: &ChatCompletion, request_id: Option<String>) -> Self {
        let chunk = ChatCompletionChunk {
            id: completion.id.as_str().into(),
            created: completion.created,
            model: completion.model.as_str().into(),
            choices: completion
                .choices
                .iter()
                .map(|choice| ChunkChoice {
                    index: choice.index,
                    delta: Delta {
                        role: Some(choice.message.role.clone()),
                        content: choice.message.text().map(Text::from),
                        refusal: choice.message.refusal.as_deref().map(Text::from),
                        reasoning_content: choice
                            .message
                            .reasoning_content
                            .as_deref()
                            .map(Text::from),
                        reasoning: choice.message.reasoning.as_deref().map(Text::from),
                        tool_calls: choice
                            .message
                            .tool_calls
                            .iter()
                            .enumerate()
                            .map(|(index, call)| ToolCallDelta {
                                index: u32::try_from(index).ok(),
                                id: Some(call.id.as_str().into()),
                                kind: Some(call.kind.clone()),
                                function: Some(gptproto_proto::wire::FunctionCallDelta {
                                    name: Some(call.function.name.as_str().into()),
                                    arguments: Some(call.function.arguments.as_str().into()),
                                    extra: Default::default(),
                                }),
                                extra: call.extra.clone(),
                            })
                            .collect(),
                        ..Delta::default()
                    },
                    finish_reason: choice.finish_reason.clone(),
                    logprobs: choice.logprobs.clone().map(Box::new),
                    extra: choice.extra.clone(),
                })
                .collect(),
            usage: completion.usage.clone().map(Box::new),
            system_fingerprint: completion.system_fingerprint.as_deref().map(Text::from),
            service_tier: completion.service_tier.clone(),
            ..ChatCompletionChunk::default()
        };
        let body = format!(
            "data: {}\n\ndata: [DONE]\n\n",
            serde_json::to_string(&chunk).expect("a chunk serializes")
        );
        let mut decoder = StreamDecoder::new().accumulating();
        decoder.push(Bytes::from(body));
        decoder.finish();
        Self {
            body: None,
            decoder,
            idle_timeout: None,
            idle: None,
            deadline: None,
            request_id,
            ended: false,
            drain: None,
            record: None,
        }
    }

    /// Carries the call's telemetry record on to the stream's end.
    pub(crate) fn observe(&mut self, record: Box<CallRecord>) {
        self.record = Some(record);
        self.note_chunks();
    }

    /// Tells the record how many chunks were decoded.
    fn note_chunks(&mut self) {
        if let Some(record) = &mut self.record {
            record.chunks_seen(self.decoder.chunks());
        }
    }

    /// The request id the server gave in the response head, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// How many chunks arrived so far.
    pub fn chunks_received(&self) -> u64 {
        self.decoder.chunks()
    }

    /// Everything received so far, accumulated.
    pub fn snapshot(&self) -> ChatCompletion {
        self.decoder.snapshot().unwrap_or_default()
    }

    /// The next chunk, without needing `StreamExt`.
    pub async fn next_chunk(&mut self) -> Option<Result<ChatCompletionChunk>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Reads the stream to its end and returns the accumulated answer (decoding chunks in
    /// place, without building owned chunks).
    pub async fn into_completion(mut self) -> Result<ChatCompletion> {
        std::future::poll_fn(|cx| self.poll_to_end(cx)).await?;
        Ok(self.decoder.into_completion()?)
    }

    /// The text deltas of the first choice, as they arrive.
    pub fn text_deltas(self) -> TextDeltas {
        TextDeltas { stream: self }
    }

    fn poll_to_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            let step = ready!(self.poll_with(cx, |decoder| {
                Ok(match decoder.poll_view()? {
                    Some(ViewItem::Chunk(_)) => Polled::Item(()),
                    Some(_) => Polled::End,
                    None => Polled::NeedInput,
                })
            }));
            match step {
                Some(Ok(())) => {}
                Some(Err(error)) => return Poll::Ready(Err(error)),
                None => return Poll::Ready(Ok(())),
            }
        }
    }

    /// The one poll loop of the stream: asks the decoder with `take` for the next item, reading
    /// the body when it needs input, until an item, the end, or an error (which ends it).
    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut take: impl FnMut(
            &mut StreamDecoder,
        ) -> std::result::Result<Polled<T>, gptproto_proto::Error>,
    ) -> Poll<Option<Result<T>>> {
        // The call's span covers the stream: entered while it is read.
        let _entered = self
            .record
            .as_ref()
            .map(|record| record.span().clone().entered());
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            if self.drain.is_some() {
                ready!(self.poll_drain(cx));
                self.end();
                return Poll::Ready(None);
            }
            let taken = take(&mut self.decoder);
            self.note_chunks();
            match taken {
                Ok(Polled::Item(item)) => return Poll::Ready(Some(Ok(item))),
                Ok(Polled::Skip) => continue,
                Ok(Polled::End) => {
                    self.drain = Some(Drain {
                        until: rt::sleep(DRAIN_WAIT),
                        read: 0,
                    });
                    continue;
                }
                Ok(Polled::NeedInput) => {}
                Err(error) => return Poll::Ready(Some(Err(self.fail(error.into())))),
            }
            if self.body.is_none() {
                self.end();
                return Poll::Ready(None);
            }
            if let Err(error) = ready!(self.poll_body(cx)) {
                return Poll::Ready(Some(Err(self.fail(error))));
            }
        }
    }

    /// Moves one body frame into the decoder, or finishes it at the end of the body.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if let Some((deadline, sleep)) = &mut self.deadline
            && sleep.poll_elapsed(cx).is_ready()
        {
            return Poll::Ready(Err(Error::stream_timeout(
                deadline.kind,
                deadline.total,
                self.decoder.snapshot(),
            )));
        }
        let Some(body) = &mut self.body else {
            return Poll::Ready(Ok(()));
        };
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers
                    };
                    if data.is_empty() {
                        continue;
                    }
                    self.decoder.push(data);
                    if let (Some(idle), Some(timeout)) = (&mut self.idle, self.idle_timeout) {
                        idle.reset(Instant::now() + timeout);
                    }
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Some(Err(error))) => {
                    self.body = None;
                    return Poll::Ready(Err(Error::interrupted(
                        error,
                        self.decoder.chunks(),
                        self.decoder.snapshot(),
                    )));
                }
                Poll::Ready(None) => {
                    self.body = None;
                    self.decoder.finish();
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending => {
                    if let (Some(idle), Some(timeout)) = (&mut self.idle, self.idle_timeout)
                        && idle.poll_elapsed(cx).is_ready()
                    {
                        return Poll::Ready(Err(Error::stream_timeout(
                            TimeoutKind::Idle,
                            timeout,
                            self.decoder.snapshot(),
                        )));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// After `[DONE]`: reads the body to its end, or until [`DRAIN_WAIT`] or [`DRAIN_LIMIT`]
    /// (whatever comes, it is not the answer's: a body error here is no error of the call).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (Some(body), Some(drain)) = (&mut self.body, &mut self.drain) else {
            return Poll::Ready(());
        };
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    drain.read += frame.data_ref().map_or(0, Bytes::len);
                    if drain.read > DRAIN_LIMIT {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(()),
                Poll::Pending => return drain.until.poll_elapsed(cx),
            }
        }
    }

    /// Ends the stream: what is left of the body is dropped (closing the exchange, unless the
    /// body had ended).
    fn end(&mut self) {
        self.ended = true;
        self.body = None;
        if let Some(record) = &mut self.record
            && let Some(outline) = self.decoder.outline()
        {
            record.answered(&outline, || self.decoder.snapshot());
        }
    }

    /// Ends the stream with `error`.
    fn fail(&mut self, error: Error) -> Error {
        self.ended = true;
        self.body = None;
        tracing::debug!(%error, "stream ended with an error");
        if let Some(record) = &mut self.record {
            record.failed(&error);
        }
        error
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatCompletionChunk>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_with(cx, |decoder| {
            Ok(match decoder.poll_item()? {
                Some(StreamItem::Chunk(chunk)) => Polled::Item(chunk),
                Some(_) => Polled::End,
                None => Polled::NeedInput,
            })
        })
    }
}

/// What one look at the decoder gave.
enum Polled<T> {
    /// An item to hand out.
    Item(T),
    /// Nothing to hand out from this chunk: look again (without reading).
    Skip,
    /// The stream's end (`[DONE]`).
    End,
    /// The decoder needs more of the body.
    NeedInput,
}

/// The text deltas of a [`ChatStream`]'s first choice, as owned strings.
#[derive(Debug)]
pub struct TextDeltas {
    stream: ChatStream,
}

impl TextDeltas {
    /// The underlying stream (for its snapshot and request id).
    pub fn stream(&self) -> &ChatStream {
        &self.stream
    }
}

impl Stream for TextDeltas {
    type Item = Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().stream.poll_with(cx, |decoder| {
            Ok(match decoder.poll_view()? {
                Some(ViewItem::Chunk(view)) => match view.text().filter(|text| !text.is_empty()) {
                    Some(text) => Polled::Item(text.to_owned()),
                    None => Polled::Skip,
                },
                Some(_) => Polled::End,
                None => Polled::NeedInput,
            })
        })
    }
}
