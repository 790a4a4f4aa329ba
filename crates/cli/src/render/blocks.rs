//! One block of markdown (a paragraph, a heading, a list, a table, a quote, a rule) as
//! terminal lines: parsed by pulldown-cmark, styled, wrapped under the prefixes of the
//! quotes and list items it sits in.

use pulldown_cmark::{Alignment, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::style::{Palette, Style};
use super::wrap::{Piece, width, wrap};

/// A container the text sits in.
enum Container {
    Quote,
    /// A list: the next item's number (`None`: bullets).
    List(Option<u64>),
    /// An item: its marker, until its first line is shown.
    Item {
        marker: Option<String>,
        indent: usize,
    },
}

/// A table being read.
#[derive(Default)]
struct Table {
    alignments: Vec<Alignment>,
    rows: Vec<Vec<Vec<Piece>>>,
    header_rows: usize,
}

/// The block's lines, `width` columns wide.
pub(crate) fn render(markdown: &str, width: usize, palette: &Palette) -> Vec<String> {
    let mut state = State {
        palette: *palette,
        width,
        lines: Vec::new(),
        containers: Vec::new(),
        pieces: Vec::new(),
        style: Style::default(),
        links: Vec::new(),
        table: None,
        code: None,
    };
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for event in Parser::new_ext(markdown, options) {
        state.event(event);
    }
    state.flush_text();
    state.lines
}

struct State {
    palette: Palette,
    width: usize,
    lines: Vec<String>,
    containers: Vec<Container>,
    /// The inline text being gathered.
    pieces: Vec<Piece>,
    style: Style,
    /// The links open: their targets, and where their text starts in `pieces`.
    links: Vec<(String, usize)>,
    table: Option<Table>,
    /// A code block inside a list or quote: its lines.
    code: Option<String>,
}

impl State {
    fn event(&mut self, event: Event<'_>) {
        if let Some(code) = &mut self.code {
            match event {
                Event::Text(text) => code.push_str(&text),
                Event::End(TagEnd::CodeBlock) => {
                    let code = self.code.take().unwrap_or_default();
                    for line in code.trim_end_matches('\n').lines() {
                        let shown = self.palette.paint(
                            line,
                            Style {
                                code: true,
                                ..Style::default()
                            },
                        );
                        let prefix = self.prefix();
                        self.lines.push(format!("{prefix}{shown}"));
                    }
                }
                _ => {}
            }
            return;
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.text(&text),
            Event::Code(code) => {
                let style = Style {
                    code: true,
                    ..self.style
                };
                self.pieces.push((code.into_string(), style));
            }
            Event::InlineMath(text)
            | Event::DisplayMath(text)
            | Event::Html(text)
            | Event::InlineHtml(text) => {
                self.text(&text);
            }
            Event::FootnoteReference(name) => self.text(&format!("[^{name}]")),
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.pieces.push(("\n".to_owned(), Style::default())),
            Event::Rule => {
                self.flush_text();
                let prefix = self.prefix();
                let rule = "─".repeat(self.width.saturating_sub(width(&prefix)).max(3));
                self.lines
                    .push(format!("{prefix}{}", self.palette.dim(&rule)));
            }
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
        }
    }

    fn text(&mut self, text: &str) {
        self.pieces.push((text.to_owned(), self.style));
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph | Tag::HtmlBlock | Tag::MetadataBlock(_) => self.flush_text(),
            Tag::Heading { level, .. } => {
                self.flush_text();
                self.style.heading = heading_level(level);
                let marks = "#".repeat(usize::from(self.style.heading));
                self.pieces.push((format!("{marks} "), self.style));
            }
            Tag::BlockQuote(_) => {
                self.flush_text();
                self.containers.push(Container::Quote);
            }
            Tag::CodeBlock(_) => {
                self.flush_text();
                self.code = Some(String::new());
            }
            Tag::List(start) => {
                self.flush_text();
                self.containers.push(Container::List(start));
            }
            Tag::Item => {
                self.flush_text();
                let marker = match self.containers.last_mut() {
                    Some(Container::List(Some(number))) => {
                        let marker = format!("{number}. ");
                        *number += 1;
                        marker
                    }
                    _ => "• ".to_owned(),
                };
                let indent = width(&marker);
                self.containers.push(Container::Item {
                    marker: Some(marker),
                    indent,
                });
            }
            Tag::Table(alignments) => {
                self.flush_text();
                self.table = Some(Table {
                    alignments,
                    ..Table::default()
                });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(table) = &mut self.table {
                    table.rows.push(Vec::new());
                }
            }
            Tag::TableCell => self.pieces.clear(),
            Tag::Emphasis => self.style.italic = true,
            Tag::Strong => self.style.bold = true,
            Tag::Strikethrough => self.style.strike = true,
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.style.link = true;
                self.links.push((dest_url.into_string(), self.pieces.len()));
            }
            Tag::FootnoteDefinition(name) => {
                self.flush_text();
                self.text(&format!("[^{name}]: "));
            }
            Tag::DefinitionList | Tag::DefinitionListTitle | Tag::DefinitionListDefinition => {
                self.flush_text();
            }
            Tag::Superscript | Tag::Subscript => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock | TagEnd::MetadataBlock(_) => self.flush_text(),
            TagEnd::Heading(_) => {
                self.flush_text();
                self.style.heading = 0;
            }
            TagEnd::BlockQuote(_) => {
                self.flush_text();
                self.containers.pop();
            }
            TagEnd::List(_) | TagEnd::Item => {
                self.flush_text();
                self.containers.pop();
            }
            TagEnd::TableHead => {
                if let Some(table) = &mut self.table {
                    table.header_rows = table.rows.len();
                }
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.pieces);
                if let Some(row) = self.table.as_mut().and_then(|table| table.rows.last_mut()) {
                    row.push(cell);
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    let prefix = self.prefix();
                    let available = self.width.saturating_sub(width(&prefix));
                    for line in render_table(&table, available, &self.palette) {
                        self.lines.push(format!("{prefix}{line}"));
                    }
                }
            }
            TagEnd::Emphasis => self.style.italic = false,
            TagEnd::Strong => self.style.bold = false,
            TagEnd::Strikethrough => self.style.strike = false,
            TagEnd::Link | TagEnd::Image => {
                self.style.link = false;
                if let Some((target, start)) = self.links.pop() {
                    // The target after the text, unless the text is the target.
                    let shown: String = self.pieces[start.min(self.pieces.len())..]
                        .iter()
                        .map(|(text, _)| text.as_str())
                        .collect();
                    if shown.trim() != target && !target.is_empty() {
                        let style = Style {
                            dim: true,
                            ..Style::default()
                        };
                        self.pieces.push((format!(" ({target})"), style));
                    }
                }
            }
            _ => {}
        }
    }

    /// The prefix of the next line: quote bars and list indents; an item's marker on its
    /// first line.
    fn prefix(&mut self) -> String {
        let mut prefix = String::new();
        for container in &mut self.containers {
            match container {
                Container::Quote => prefix.push_str(&self.palette.dim("│ ")),
                Container::List(_) => {}
                Container::Item { marker, indent } => match marker.take() {
                    Some(marker) => prefix.push_str(&marker),
                    None => prefix.push_str(&" ".repeat(*indent)),
                },
            }
        }
        prefix
    }

    /// Wraps and shows the inline text gathered (outside tables).
    fn flush_text(&mut self) {
        if self.table.is_some() || self.pieces.iter().all(|(text, _)| text.trim().is_empty()) {
            self.pieces.clear();
            return;
        }
        let pieces = std::mem::take(&mut self.pieces);
        // The first line's prefix carries an item's marker; the others align under it.
        let first = self.prefix();
        let rest = self.prefix();
        let available = self.width.saturating_sub(width(&strip(&rest))).max(10);
        for (at, line) in wrap(&pieces, available, &self.palette)
            .into_iter()
            .enumerate()
        {
            let prefix = if at == 0 { &first } else { &rest };
            self.lines.push(format!("{prefix}{line}"));
        }
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// `text` without its escape sequences.
fn strip(text: &str) -> String {
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(character) = chars.next() {
        if character == '\x1b' {
            for end in chars.by_ref() {
                if end == 'm' {
                    break;
                }
            }
        } else {
            plain.push(character);
        }
    }
    plain
}

/// A table in box-drawing lines, its columns narrowed (their cells wrapped) to fit.
fn render_table(table: &Table, available: usize, palette: &Palette) -> Vec<String> {
    let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
    if columns == 0 {
        return Vec::new();
    }
    let plain = |cell: &[Piece]| {
        cell.iter()
            .map(|(text, _)| text.as_str())
            .collect::<String>()
    };
    let mut widths = vec![1; columns];
    for row in &table.rows {
        for (column, cell) in row.iter().enumerate() {
            widths[column] = widths[column].max(width(plain(cell).trim()));
        }
    }
    // Borders: "│ " before each column, " │" after the last, " │ " between.
    let borders = 3 * columns + 1;
    while widths.iter().sum::<usize>() + borders > available {
        let (widest, &most) = widths
            .iter()
            .enumerate()
            .max_by_key(|(_, width)| **width)
            .expect("a column");
        if most <= 3 {
            break;
        }
        widths[widest] = most - 1;
    }
    let border = |left: &str, middle: &str, right: &str| {
        let parts: Vec<String> = widths.iter().map(|width| "─".repeat(width + 2)).collect();
        palette.dim(&format!("{left}{}{right}", parts.join(middle)))
    };
    let bar = palette.dim("│");
    let mut lines = vec![border("┌", "┬", "┐")];
    for (index, row) in table.rows.iter().enumerate() {
        let header = index < table.header_rows;
        let cells: Vec<Vec<String>> = (0..columns)
            .map(|column| {
                let pieces: Vec<Piece> = row
                    .get(column)
                    .map(|cell| {
                        cell.iter()
                            .map(|(text, style)| {
                                let style = Style {
                                    bold: style.bold || header,
                                    ..*style
                                };
                                (text.trim().to_owned(), style)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                wrap(&pieces, widths[column], palette)
            })
            .collect();
        let height = cells.iter().map(Vec::len).max().unwrap_or(1);
        for line in 0..height {
            let mut shown = bar.clone();
            for (column, cell) in cells.iter().enumerate() {
                let text = cell.get(line).map(String::as_str).unwrap_or("");
                let pad = widths[column].saturating_sub(width(&strip(text)));
                let (left, right) = match table.alignments.get(column) {
                    Some(Alignment::Right) => (pad, 0),
                    Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                    _ => (0, pad),
                };
                shown.push_str(&format!(
                    " {}{text}{} {bar}",
                    " ".repeat(left),
                    " ".repeat(right)
                ));
            }
            lines.push(shown);
        }
        if header && index + 1 == table.header_rows {
            lines.push(border("├", "┼", "┤"));
        }
    }
    lines.push(border("└", "┴", "┘"));
    lines
}
