//! `-x`: the first fenced code block of an answer, as CommonMark reads fences.

/// The content of the first fenced code block (``` or ~~~, three or more, indented at most
/// three spaces; closed by a fence of the same character at least as long, or by the end of
/// the text), without its fences.
pub(crate) fn first_code_block(text: &str) -> Option<&str> {
    let mut offset = 0;
    let mut open: Option<(char, usize, usize)> = None; // (character, length, content start)
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let indent = trimmed.len() - trimmed.trim_start_matches(' ').len();
        if indent > 3 {
            continue;
        }
        let body = &trimmed[indent..];
        let Some(fence) = body.chars().next().filter(|c| *c == '`' || *c == '~') else {
            continue;
        };
        let length = body.chars().take_while(|c| *c == fence).count();
        if length < 3 {
            continue;
        }
        let rest = &body[length..];
        match open {
            None => {
                // A backtick fence's info string holds no backtick.
                if fence == '`' && rest.contains('`') {
                    continue;
                }
                open = Some((fence, length, offset));
            }
            Some((character, opening, content)) => {
                if fence == character && length >= opening && rest.trim().is_empty() {
                    return Some(&text[content..start]);
                }
            }
        }
    }
    open.map(|(_, _, content)| &text[content.min(text.len())..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_block_whatever_its_fence() {
        let answer = "Here:\n\n```bash\nls -la\necho done\n```\n\nand\n```\nsecond\n```\n";
        assert_eq!(first_code_block(answer), Some("ls -la\necho done\n"));
        assert_eq!(
            first_code_block("~~~~\na\n~~~\nb\n~~~~\n"),
            Some("a\n~~~\nb\n")
        );
        assert_eq!(first_code_block("  ```py\nx = 1\n  ```"), Some("x = 1\n"));
        // Unclosed: to the end. None: no block.
        assert_eq!(first_code_block("```\nrest"), Some("rest"));
        assert_eq!(first_code_block("no code here, only `inline`"), None);
        // Not fences: two backticks, four spaces of indent, backticks in the info string.
        assert_eq!(first_code_block("``\nx\n``"), None);
        assert_eq!(first_code_block("    ```\nx\n    ```"), None);
        // (The last line opens an empty block that runs to the end.)
        assert_eq!(first_code_block("```a`b\nx\n```"), Some(""));
    }
}
