//! Fenced code, highlighted line by line with syntect (its default syntaxes and themes,
//! loaded once, when the first code block opens), as 24-bit colour escapes.

use std::sync::OnceLock;

use syntect::easy::HighlightLines;
use syntect::highlighting::{Theme, ThemeSet};
use syntect::parsing::SyntaxSet;

/// The theme the code is shown in.
const THEME: &str = "base16-ocean.dark";

fn syntaxes() -> &'static SyntaxSet {
    static SYNTAXES: OnceLock<SyntaxSet> = OnceLock::new();
    SYNTAXES.get_or_init(SyntaxSet::load_defaults_newlines)
}

fn theme() -> &'static Theme {
    static THEMES: OnceLock<ThemeSet> = OnceLock::new();
    &THEMES.get_or_init(ThemeSet::load_defaults).themes[THEME]
}

/// The highlighter of one code block (plain without colour or for an unknown language).
pub(crate) struct Highlighter(Option<HighlightLines<'static>>);

impl Highlighter {
    pub(crate) fn for_language(language: &str, colour: bool) -> Self {
        if !colour || language.is_empty() {
            return Self(None);
        }
        let syntaxes = syntaxes();
        Self(
            syntaxes
                .find_syntax_by_token(language)
                .map(|syntax| HighlightLines::new(syntax, theme())),
        )
    }

    /// One line of the block, shown.
    pub(crate) fn line(&mut self, line: &str) -> String {
        let Some(highlighter) = &mut self.0 else {
            return line.to_owned();
        };
        let with_newline = format!("{line}\n");
        match highlighter.highlight_line(&with_newline, syntaxes()) {
            Ok(ranges) => {
                let mut shown = String::new();
                for (style, text) in ranges {
                    let text = text.trim_end_matches('\n');
                    if text.is_empty() {
                        continue;
                    }
                    let colour = style.foreground;
                    shown.push_str(&format!(
                        "\x1b[38;2;{};{};{}m{text}",
                        colour.r, colour.g, colour.b
                    ));
                }
                shown.push_str("\x1b[0m");
                shown
            }
            Err(_) => line.to_owned(),
        }
    }
}
