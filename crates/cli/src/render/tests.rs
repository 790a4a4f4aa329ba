use super::*;

const PLAIN: Palette = Palette { colour: false };

fn rendered(markdown: &str, width: usize, palette: Palette, piece: usize) -> String {
    let mut out = Vec::new();
    let mut renderer = Renderer::new(&mut out, width, palette);
    let characters: Vec<char> = markdown.chars().collect();
    for chunk in characters.chunks(piece) {
        renderer.push(&chunk.iter().collect::<String>()).unwrap();
    }
    renderer.finish().unwrap();
    String::from_utf8(out).unwrap()
}

const ANSWER: &str = "# Plan\n\nSome **bold** and *italic* text with `code` and a [link](https://example.com).\n\n- first item that is long enough to wrap around\n- second\n  1. nested\n\n> quoted words\n\n| name | qty |\n|------|----:|\n| apple | 3 |\n| kiwi | 12 |\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\n---\nEnd.";

#[test]
fn blocks_render_the_same_whatever_the_pieces() {
    let whole = rendered(ANSWER, 40, PLAIN, usize::MAX);
    for piece in [1, 2, 3, 7, 50] {
        assert_eq!(
            rendered(ANSWER, 40, PLAIN, piece),
            whole,
            "pieces of {piece}"
        );
    }
    assert_eq!(
        whole,
        "# Plan\n\
         \n\
         Some bold and italic text with code and\n\
         a link (https://example.com).\n\
         \n\
         • first item that is long enough to wrap\n  around\n\
         • second\n  1. nested\n\
         \n\
         │ quoted words\n\
         \n\
         ┌───────┬─────┐\n\
         │ name  │ qty │\n\
         ├───────┼─────┤\n\
         │ apple │   3 │\n\
         │ kiwi  │  12 │\n\
         └───────┴─────┘\n\
         \n\
         ```rust\n\
         fn main() {\n    println!(\"hi\");\n}\n\
         ```\n\
         \n\
         ────────────────────────────────────────\n\
         End.\n"
    );
}

#[test]
fn without_colour_there_is_no_escape_and_with_it_code_is_highlighted() {
    assert!(!rendered(ANSWER, 60, PLAIN, 5).contains('\x1b'));
    let coloured = rendered(ANSWER, 60, Palette { colour: true }, 5);
    assert!(coloured.contains("\x1b[1mbold\x1b[0m"), "{coloured:?}");
    assert!(
        coloured.contains("\x1b[38;2;"),
        "24-bit colours in the code: {coloured:?}"
    );
}

#[test]
fn a_block_is_shown_when_it_is_whole_and_a_code_line_at_once() {
    let mut out = Vec::new();
    let mut renderer = Renderer::new(&mut out, 40, PLAIN);
    renderer.push("A paragraph\nstill going").unwrap();
    renderer.push("\n").unwrap();
    assert!(renderer.out.is_empty(), "a paragraph waits for its end");
    renderer.push("\n```py\nprint(1)\n").unwrap();
    assert_eq!(
        String::from_utf8_lossy(renderer.out),
        "A paragraph still going\n\n```py\nprint(1)\n"
    );
    renderer.push("pri").unwrap();
    renderer.finish().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        "A paragraph still going\n\n```py\nprint(1)\npri\n```\n"
    );
}

#[test]
fn a_wide_table_narrows_its_columns_and_wraps_their_cells() {
    let table = "| a | b |\n|---|---|\n| one two three four five | x |\n";
    let shown = rendered(table, 16, PLAIN, usize::MAX);
    for line in shown.lines() {
        assert!(wrap::width(line) <= 16, "{line:?} in\n{shown}");
    }
    assert!(
        shown.contains("one two") && shown.contains("five"),
        "{shown}"
    );
}
