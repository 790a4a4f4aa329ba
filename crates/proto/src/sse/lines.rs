//! Line splitting: the pushed chunks cut into lines (LF, CR or CRLF, split anywhere), the
//! leading BOM, and the buffer limit. Whole lines are sliced from the input; only lines split
//! across pushes are copied, into reused slabs.

use bytes::{Buf, Bytes};

use super::{BomState, DataBuffer, SseDecoder};
use crate::Error;

pub(super) const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// The allocation unit for lines that arrive split across chunks.
pub(super) const LINE_SLAB: usize = 8 * 1024;

/// A line of the stream, without its terminator.
pub(super) enum Line {
    Blank,
    Text(Bytes),
    /// A `data:` line that makes a whole event by itself: the block had no other field and a
    /// blank line follows (consumed).
    Event(Bytes),
}

impl SseDecoder {
    /// Moves on to a queued chunk when the current one is used up. Returns whether there is
    /// input to parse.
    #[inline]
    pub(super) fn refill(&mut self) -> bool {
        if self.input.is_empty() {
            match self.queued.pop_front() {
                Some(chunk) => self.input = chunk,
                None => return false,
            }
        }
        true
    }

    /// Strips one leading UTF-8 BOM, which may arrive split across chunks. Returns whether the
    /// question is settled (false: the input so far is a strict prefix of the BOM).
    pub(super) fn settle_bom(&mut self) -> bool {
        let BomState::Matched(mut matched) = self.bom else {
            return true;
        };
        while self.refill() {
            let chunk = &mut self.input;
            while matched < BOM.len() && chunk.first() == Some(&BOM[matched]) {
                chunk.advance(1);
                matched += 1;
            }
            if matched == BOM.len() {
                self.bom = BomState::Settled;
                return true;
            }
            if !chunk.is_empty() {
                // A byte that does not continue the BOM: give back what looked like one.
                return self.settle_without_bom(matched);
            }
        }
        if self.finished {
            return self.settle_without_bom(matched);
        }
        self.bom = BomState::Matched(matched);
        false
    }

    pub(super) fn settle_without_bom(&mut self, matched: usize) -> bool {
        if matched > 0 {
            let rest = std::mem::replace(&mut self.input, Bytes::from_static(&BOM[..matched]));
            if !rest.is_empty() {
                self.queued.push_front(rest);
            }
        }
        self.bom = BomState::Settled;
        true
    }

    /// The next complete line, without its terminator, or `None` when the input runs out first.
    /// A used-up input slice is let go either way: an empty `Bytes` still holds its buffer (a
    /// whole socket read, often), which a stream waiting for its next event should not keep.
    #[inline]
    pub(super) fn next_line(&mut self) -> Result<Option<Line>, Error> {
        let line = self.scan_line();
        if self.input.is_empty() {
            self.input = Bytes::new();
        }
        line
    }

    pub(super) fn scan_line(&mut self) -> Result<Option<Line>, Error> {
        let block_is_empty = self.block_is_empty();
        loop {
            if !self.refill() {
                return Ok(None);
            }
            let chunk = &mut self.input;
            if self.after_cr {
                self.after_cr = false;
                if chunk[0] == b'\n' {
                    chunk.advance(1);
                    if chunk.is_empty() {
                        continue;
                    }
                }
            }
            if self.partial_line.is_empty() && !self.in_comment && matches!(chunk[0], b'\n' | b'\r')
            {
                // A blank line, the end of most events: no search, no slice.
                self.after_cr = consume_terminator(chunk);
                return Ok(Some(Line::Blank));
            }
            let found = memchr::memchr2(b'\n', b'\r', chunk);
            if self.in_comment
                || (found.is_none() && self.partial_line.is_empty() && chunk[0] == b':')
            {
                // A comment (a keep-alive, say) split across chunks: nothing of it is kept.
                self.in_comment = found.is_none();
                match found {
                    None => self.input = Bytes::new(),
                    Some(end) => {
                        chunk.advance(end);
                        self.after_cr = consume_terminator(chunk);
                    }
                }
                continue;
            }
            let Some(end) = found else {
                check_limit(
                    self.buffer_limit,
                    &self.data,
                    self.partial_line.len() + chunk.len(),
                )?;
                if self.partial_line.capacity() - self.partial_line.len() < chunk.len() {
                    // Lines split across chunks are gathered in slabs, not one allocation each.
                    self.partial_line.reserve(chunk.len().max(LINE_SLAB));
                }
                self.partial_line.extend_from_slice(chunk);
                self.input = Bytes::new();
                continue;
            };
            if self.partial_line.is_empty() && chunk[0] == b':' {
                // A whole comment line: skipped, never buffered (so never counted in the limit,
                // as when it arrives split).
                chunk.advance(end);
                self.after_cr = consume_terminator(chunk);
                continue;
            }
            // `data: <value>\n\n` with nothing else pending in the block (nearly every event of a
            // chat stream): the whole event at once, its blank line consumed too.
            let whole_event =
                chunk[end] == b'\n' && chunk.get(end + 1) == Some(&b'\n') && block_is_empty;
            let line = if self.partial_line.is_empty() {
                check_limit(self.buffer_limit, &self.data, end)?;
                chunk.split_to(end)
            } else {
                check_limit(self.buffer_limit, &self.data, self.partial_line.len() + end)?;
                self.partial_line.extend_from_slice(&chunk[..end]);
                chunk.advance(end);
                self.partial_line.split().freeze()
            };
            if whole_event && line.starts_with(b"data:") {
                chunk.advance(2);
                return Ok(Some(Line::Event(line)));
            }
            self.after_cr = consume_terminator(chunk);
            return Ok(Some(if line.is_empty() {
                Line::Blank
            } else {
                Line::Text(line)
            }));
        }
    }
}

/// Steps over the CR, LF or CRLF that starts `chunk`. Returns whether a CR ended the chunk,
/// in which case an LF starting the next chunk belongs to it.
#[inline]
fn consume_terminator(chunk: &mut Bytes) -> bool {
    let terminator = chunk[0];
    chunk.advance(1);
    if terminator == b'\r' {
        match chunk.first() {
            Some(b'\n') => chunk.advance(1),
            Some(_) => {}
            None => return true,
        }
    }
    false
}

/// Fails when a line of `line_len` bytes plus the data already buffered exceed `limit`.
fn check_limit(limit: usize, data: &DataBuffer, line_len: usize) -> Result<(), Error> {
    if line_len.saturating_add(data.len()) > limit {
        return Err(Error::buffer_limit(limit));
    }
    Ok(())
}
