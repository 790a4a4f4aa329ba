//! `-f PATH`: text files attached to the prompt, each under its name in a fence of its own.

use std::io::Read;

use crate::exit::Failure;

/// The largest file attached (about 250k tokens: more is a mistake, not a prompt).
pub(crate) const MAX_FILE_BYTES: usize = 1024 * 1024;

/// A file's name and text.
#[derive(Debug)]
pub(crate) struct Attached {
    pub(crate) name: String,
    pub(crate) text: String,
}

/// Reads each of `paths` (`-` is standard input), refusing what is not text or too large.
pub(crate) fn read(paths: &[String]) -> Result<Vec<Attached>, Failure> {
    if paths.iter().filter(|path| *path == "-").count() > 1 {
        return Err(Failure::Usage(
            "-f -: standard input can be read once".to_owned(),
        ));
    }
    paths.iter().map(|path| read_one(path)).collect()
}

fn read_one(path: &str) -> Result<Attached, Failure> {
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes))
    };
    let name = if path == "-" { "stdin" } else { path };
    read.map_err(|error| Failure::Usage(format!("-f {path}: cannot read it: {error}")))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Failure::Usage(format!(
            "-f {path}: larger than {} KiB; attach a smaller part of it",
            MAX_FILE_BYTES / 1024
        )));
    }
    if bytes.contains(&0) {
        return Err(Failure::Usage(format!(
            "-f {path}: a binary file (it holds NUL bytes); -f attaches text (images go with --image)"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|error| {
        Failure::Usage(format!(
            "-f {path}: not UTF-8 text (invalid byte at offset {}); -f attaches text (images go with --image)",
            error.utf8_error().valid_up_to()
        ))
    })?;
    Ok(Attached {
        name: name.to_owned(),
        text,
    })
}

/// The prompt followed by each file, under its name, fenced by more backticks than the file
/// holds in a row (so a file with fences of its own stays whole).
pub(crate) fn prompt_with(prompt: &str, files: &[Attached]) -> String {
    if files.is_empty() {
        return prompt.to_owned();
    }
    let mut text = prompt.trim_end().to_owned();
    for file in files {
        let longest = file
            .text
            .split(|c| c != '`')
            .map(str::len)
            .max()
            .unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&format!("{}:\n{fence}\n{}", file.name, file.text));
        if !file.text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&fence);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_the_prompt_fenced_longer_than_their_own_fences() {
        let files = [
            Attached {
                name: "notes.md".into(),
                text: "see:\n```rust\nfn main() {}\n```\n".into(),
            },
            Attached {
                name: "a.txt".into(),
                text: "plain".into(),
            },
        ];
        assert_eq!(
            prompt_with("Review these", &files),
            "Review these\n\nnotes.md:\n````\nsee:\n```rust\nfn main() {}\n```\n````\n\na.txt:\n```\nplain\n```"
        );
        assert_eq!(prompt_with("", &files[1..]), "a.txt:\n```\nplain\n```");
    }
}
