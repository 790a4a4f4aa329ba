//! Styled text wrapped to a width by display width (wide characters count two), at spaces.

use unicode_width::UnicodeWidthStr;

use super::style::{Palette, Style};

/// A run of text in one style; `"\n"` alone is a hard break.
pub(crate) type Piece = (String, Style);

/// The display width of `text`.
pub(crate) fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// `pieces` as lines at most `columns` wide (a word longer than that is cut), painted.
pub(crate) fn wrap(pieces: &[Piece], columns: usize, palette: &Palette) -> Vec<String> {
    let columns = columns.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    // Pending spaces go before the next word on the same line, never at a line's start.
    let mut space: Option<Style> = None;
    for (text, style) in pieces {
        if text == "\n" {
            lines.push(std::mem::take(&mut line));
            used = 0;
            space = None;
            continue;
        }
        let mut rest = text.as_str();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix(' ') {
                space = Some(*style);
                rest = after.trim_start_matches(' ');
                continue;
            }
            let end = rest.find(' ').unwrap_or(rest.len());
            let mut word = &rest[..end];
            rest = &rest[end..];
            loop {
                let needed = width(word) + usize::from(space.is_some() && used > 0);
                if used > 0 && used + needed > columns {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                    space = None;
                }
                if used > 0
                    && let Some(space_style) = space.take()
                {
                    line.push_str(&palette.paint(" ", space_style));
                    used += 1;
                }
                space = None;
                if used + width(word) <= columns {
                    line.push_str(&palette.paint(word, *style));
                    used += width(word);
                    break;
                }
                // Longer than a line: cut it at the width.
                let (head, tail) = split_at_width(word, columns - used);
                line.push_str(&palette.paint(head, *style));
                lines.push(std::mem::take(&mut line));
                used = 0;
                word = tail;
                if word.is_empty() {
                    break;
                }
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `word` cut where its first `columns` columns end (at least one character).
fn split_at_width(word: &str, columns: usize) -> (&str, &str) {
    let mut used = 0;
    for (at, character) in word.char_indices() {
        let w = unicode_width::UnicodeWidthChar::width(character).unwrap_or(0);
        if used + w > columns && at > 0 {
            return word.split_at(at);
        }
        used += w;
    }
    (word, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Palette = Palette { colour: false };

    fn plain(text: &str) -> Vec<Piece> {
        vec![(text.to_owned(), Style::default())]
    }

    #[test]
    fn words_wrap_at_the_width_and_long_ones_are_cut() {
        assert_eq!(
            wrap(&plain("the quick brown fox jumps"), 10, &PLAIN),
            ["the quick", "brown fox", "jumps"]
        );
        assert_eq!(
            wrap(&plain("abcdefghijkl"), 5, &PLAIN),
            ["abcde", "fghij", "kl"]
        );
        // Wide characters count two columns.
        assert_eq!(
            wrap(&plain("漢字 漢字 漢字"), 9, &PLAIN),
            ["漢字 漢字", "漢字"]
        );
        let broken = vec![
            ("one".to_owned(), Style::default()),
            ("\n".to_owned(), Style::default()),
            ("two".to_owned(), Style::default()),
        ];
        assert_eq!(wrap(&broken, 40, &PLAIN), ["one", "two"]);
    }

    #[test]
    fn styles_are_painted_per_word_and_escapes_take_no_width() {
        let bold = Style {
            bold: true,
            ..Style::default()
        };
        let pieces = vec![
            ("aa ".to_owned(), Style::default()),
            ("bb cc".to_owned(), bold),
        ];
        let lines = wrap(&pieces, 5, &Palette { colour: true });
        assert_eq!(lines, ["aa \u{1b}[1mbb\u{1b}[0m", "\u{1b}[1mcc\u{1b}[0m"]);
    }
}
