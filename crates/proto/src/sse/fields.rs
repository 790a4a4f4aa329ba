//! Field interpretation: each line's field (`data`, `event`, `id`, `retry`, comments) applied
//! to the event being built, and the event dispatched at a blank line.

use bytes::{Buf, Bytes, BytesMut};

use super::lines::Line;
use super::{DiscardedAtEnd, SseDecoder, SseEvent};
use crate::Text;

#[derive(Debug, Default)]
pub(super) enum DataBuffer {
    #[default]
    Empty,
    /// One data line, still a slice of the input.
    One(Bytes),
    /// Several data lines joined with `\n`.
    Many(BytesMut),
}

impl DataBuffer {
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(line) => line.len(),
            Self::Many(lines) => lines.len(),
        }
    }

    pub(super) fn push_line(&mut self, value: Bytes) {
        match self {
            Self::Empty => *self = Self::One(value),
            Self::One(first) => {
                let mut lines = BytesMut::with_capacity(first.len() + 1 + value.len());
                lines.extend_from_slice(first);
                lines.extend_from_slice(b"\n");
                lines.extend_from_slice(&value);
                *self = Self::Many(lines);
            }
            Self::Many(lines) => {
                lines.extend_from_slice(b"\n");
                lines.extend_from_slice(&value);
            }
        }
    }

    pub(super) fn take(&mut self) -> Option<Text> {
        let bytes = match std::mem::take(self) {
            Self::Empty => return None,
            Self::One(line) => line,
            Self::Many(lines) => lines.freeze(),
        };
        // SAFETY: `push_line` only receives values that `utf8_text` checked or repaired, and
        // joining UTF-8 strings with `\n` keeps them UTF-8.
        Some(unsafe { Text::from_utf8_unchecked(bytes) })
    }
}

impl SseDecoder {
    /// Applies one line to the block being built; a blank line dispatches it.
    pub(super) fn interpret_line(&mut self, line: Line) -> Option<SseEvent> {
        let mut line = match line {
            Line::Blank => return self.dispatch(),
            Line::Text(line) => line,
            Line::Event(mut line) => {
                let skip = if line.get(5) == Some(&b' ') { 6 } else { 5 };
                line.advance(skip);
                return Some(SseEvent {
                    event_type: None,
                    data: utf8_text(line),
                    last_event_id: self.last_event_id_for_event(),
                    retry: None,
                });
            }
        };
        if line.starts_with(b"data:") {
            let skip = if line.get(5) == Some(&b' ') { 6 } else { 5 };
            line.advance(skip);
            self.push_data(line);
            return None;
        }
        if line[0] == b':' {
            return None;
        }
        let (name, mut value) = match memchr::memchr(b':', &line) {
            Some(colon) => {
                let mut value = line.clone();
                value.advance(colon + 1);
                line.truncate(colon);
                (line, value)
            }
            None => (line, Bytes::new()),
        };
        if value.first() == Some(&b' ') {
            value.advance(1);
        }
        match &name[..] {
            b"data" => self.push_data(value),
            b"event" => self.event_type = (!value.is_empty()).then(|| utf8_text(value)),
            b"id" if !value.contains(&0) => {
                self.id_buffer = utf8_text(value);
                self.id_pending = true;
            }
            b"error" if self.error_field => {
                self.event_type = Some(Text::from_static("error"));
                self.push_data(value);
            }
            b"retry" => {
                if let Some(millis) = parse_retry(&value) {
                    self.reconnection_time = Some(millis);
                    self.block_retry = Some(millis);
                }
            }
            _ => {}
        }
        None
    }

    /// Appends a data value (the leading space already stripped).
    pub(super) fn push_data(&mut self, value: Bytes) {
        self.data.push_line(utf8_text(value).into_bytes());
    }

    pub(super) fn dispatch(&mut self) -> Option<SseEvent> {
        if self.id_pending {
            self.last_event_id = self.id_buffer.clone();
            self.id_pending = false;
        }
        let event_type = self.event_type.take();
        let retry = self.block_retry.take();
        let data = self.data.take()?;
        Some(SseEvent {
            event_type,
            data,
            last_event_id: self.last_event_id_for_event(),
            retry,
        })
    }

    /// The committed last event id, for an event. Most streams never set one: skip the
    /// (indirect) clone of an empty one.
    pub(super) fn last_event_id_for_event(&self) -> Text {
        if self.last_event_id.is_empty() {
            Text::new()
        } else {
            self.last_event_id.clone()
        }
    }

    /// Whether the block being built has no field yet (no data, type, id or retry).
    #[inline]
    pub(super) fn block_is_empty(&self) -> bool {
        matches!(self.data, DataBuffer::Empty)
            && self.event_type.is_none()
            && self.block_retry.is_none()
            && !self.id_pending
    }

    pub(super) fn discard_unterminated_block(&mut self) {
        let data = self.data.take();
        let partial_line_len = self.partial_line.len();
        self.partial_line.clear();
        self.event_type = None;
        self.block_retry = None;
        if data.is_some() || partial_line_len > 0 {
            self.discarded_at_end = Some(DiscardedAtEnd {
                data,
                partial_line_len,
            });
        }
    }
}

/// UTF-8 text of a field value, invalid sequences replaced with U+FFFD.
fn utf8_text(value: Bytes) -> Text {
    match simdutf8::basic::from_utf8(&value) {
        // SAFETY: just checked.
        Ok(_) => unsafe { Text::from_utf8_unchecked(value) },
        Err(_) => Text::from(String::from_utf8_lossy(&value).into_owned()),
    }
}

/// A `retry:` value counts only when it is all ASCII digits (no sign, space or separator).
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Digits that overflow are still a number: clamp rather than drop the field.
    Some(value.iter().fold(0u64, |millis, digit| {
        millis
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}
