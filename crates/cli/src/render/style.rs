//! Inline styles, and the escape sequences that show them (none without colour).

/// What a piece of text looks like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Style {
    pub(crate) bold: bool,
    pub(crate) italic: bool,
    pub(crate) strike: bool,
    pub(crate) code: bool,
    pub(crate) link: bool,
    pub(crate) dim: bool,
    /// A heading's level (1–6), 0 for none.
    pub(crate) heading: u8,
}

/// How styles are shown: with ANSI escapes, or not at all (`NO_COLOR`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    pub(crate) colour: bool,
}

impl Palette {
    /// `text` in `style`.
    pub(crate) fn paint(&self, text: &str, style: Style) -> String {
        if !self.colour || style == Style::default() || text.is_empty() {
            return text.to_owned();
        }
        let mut codes = Vec::new();
        if style.bold || style.heading > 0 {
            codes.push("1");
        }
        if style.italic {
            codes.push("3");
        }
        if style.link || style.heading == 1 {
            codes.push("4");
        }
        if style.strike {
            codes.push("9");
        }
        if style.dim {
            codes.push("2");
        }
        if style.code {
            codes.push("36");
        } else if style.heading > 0 {
            codes.push("35");
        }
        format!("\x1b[{}m{text}\x1b[0m", codes.join(";"))
    }

    /// `text` dimmed (rules, fences, quote bars, link targets).
    pub(crate) fn dim(&self, text: &str) -> String {
        self.paint(
            text,
            Style {
                dim: true,
                ..Style::default()
            },
        )
    }
}
