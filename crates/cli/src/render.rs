//! Markdown on a terminal, as it streams: text is taken a line at a time and rendered a block
//! at a time (a paragraph, a list, a table, a quote when its blank line comes; a heading at once;
//! a fenced code block line by line, highlighted), appended below what is already shown and
//! never re-printed. Wrapped to the terminal's width; without colour when `NO_COLOR` is set.
//!
//! Only for a terminal: piped, or with `--raw`, the text is printed as the model sent it.

use std::io::{self, Write};

mod blocks;
mod code;
mod style;
mod wrap;

use code::Highlighter;
pub(crate) use style::Palette;

/// The width used when the terminal's cannot be read.
const FALLBACK_WIDTH: usize = 80;

/// The terminal's width: `COLUMNS` when set (as shells export it), else the terminal's own.
pub(crate) fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.trim().parse::<usize>().ok())
        .filter(|&columns| columns >= 20)
        .or_else(|| terminal_size::terminal_size().map(|(width, _)| usize::from(width.0)))
        .unwrap_or(FALLBACK_WIDTH)
        .max(20)
}

/// Whether colour is wanted: not when `NO_COLOR` is set to anything but the empty string.
pub(crate) fn colour_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// A fenced code block being shown.
struct Fence {
    marker: char,
    length: usize,
    highlighter: Highlighter,
}

/// Renders streamed markdown to `out`.
pub(crate) struct Renderer<W: Write> {
    out: W,
    width: usize,
    palette: Palette,
    /// Text received, not yet a whole line.
    partial: String,
    /// The lines of the block being received.
    block: Vec<String>,
    fence: Option<Fence>,
    /// Whether anything was shown (blocks are separated by one blank line).
    shown: bool,
}

impl<W: Write> Renderer<W> {
    pub(crate) fn new(out: W, width: usize, palette: Palette) -> Self {
        Self {
            out,
            width,
            palette,
            partial: String::new(),
            block: Vec::new(),
            fence: None,
            shown: false,
        }
    }

    /// Takes streamed text in; writes each block as soon as it is whole (the caller flushes:
    /// [`flush`](Self::flush), when the stream waits). Only the new text is searched for line
    /// ends, so a long line costs its length once, however many pieces it comes in.
    pub(crate) fn push(&mut self, mut text: &str) -> io::Result<()> {
        while let Some(end) = text.find('\n') {
            let (head, rest) = text.split_at(end + 1);
            text = rest;
            let mut line = std::mem::take(&mut self.partial);
            line.push_str(head);
            self.line(line.trim_end_matches(['\n', '\r']))?;
            // The buffer is kept for the next line.
            line.clear();
            self.partial = line;
        }
        self.partial.push_str(text);
        Ok(())
    }

    /// Writes out what was rendered so far.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Shows what is left (the answer ended).
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line)?;
        }
        if self.fence.is_some() {
            self.close_fence()?;
        }
        self.flush_block()?;
        self.out.flush()
    }

    fn line(&mut self, line: &str) -> io::Result<()> {
        if let Some(fence) = &mut self.fence {
            if closes(line, fence.marker, fence.length) {
                return self.close_fence();
            }
            let shown = fence.highlighter.line(line);
            return writeln!(self.out, "{shown}");
        }
        if let Some((marker, length, language)) = opens(line) {
            self.flush_block()?;
            self.separate()?;
            let label = format!("{}{language}", marker.to_string().repeat(length));
            writeln!(self.out, "{}", self.palette.dim(&label))?;
            self.fence = Some(Fence {
                marker,
                length,
                highlighter: Highlighter::for_language(language, self.palette.colour),
            });
            return Ok(());
        }
        if line.trim().is_empty() {
            return self.flush_block();
        }
        let heading =
            line.trim_start().starts_with('#') && line.len() - line.trim_start().len() < 4;
        self.block.push(line.to_owned());
        if heading && self.block.len() == 1 {
            // An ATX heading is one line: shown at once.
            return self.flush_block();
        }
        Ok(())
    }

    fn close_fence(&mut self) -> io::Result<()> {
        let fence = self.fence.take().expect("a fence is open");
        let label = fence.marker.to_string().repeat(fence.length);
        writeln!(self.out, "{}", self.palette.dim(&label))
    }

    /// Renders the block received so far, if any.
    fn flush_block(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.block).join("\n");
        let lines = blocks::render(&text, self.width, &self.palette);
        self.separate()?;
        for line in lines {
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }

    /// One blank line between two blocks.
    fn separate(&mut self) -> io::Result<()> {
        if std::mem::replace(&mut self.shown, true) {
            writeln!(self.out)?;
        }
        Ok(())
    }
}

/// A fence's opening line: its character, length and language.
fn opens(line: &str) -> Option<(char, usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let body = &line[indent..];
    let marker = body.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = body.chars().take_while(|c| *c == marker).count();
    let info = body[length..].trim();
    (length >= 3 && !(marker == '`' && info.contains('`')))
        .then(|| (marker, length, info.split_whitespace().next().unwrap_or("")))
}

/// Whether `line` closes a fence of `marker` × `length`.
fn closes(line: &str, marker: char, length: usize) -> bool {
    let body = line.trim_start_matches(' ');
    line.len() - body.len() <= 3
        && body.chars().take_while(|c| *c == marker).count() >= length
        && body.trim_start_matches(marker).trim().is_empty()
}

#[cfg(test)]
mod tests;
