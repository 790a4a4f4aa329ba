//! The output and errors files: a torn last line cut, the ids already written read back, lines
//! appended whole, fsync grouped.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::shard::fnv1a64;

/// How often written lines are made durable.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// A compact set of ids: 128 bits of hash each (FNV-1a and SipHash), 16 bytes an id.
#[derive(Debug, Default)]
pub(crate) struct IdSet(HashSet<u128>);

impl IdSet {
    fn key(id: &str) -> u128 {
        let mut sip = std::hash::DefaultHasher::new();
        id.hash(&mut sip);
        (u128::from(fnv1a64(id.as_bytes())) << 64) | u128::from(sip.finish())
    }

    /// Adds `id`; false if it was there.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        self.0.insert(Self::key(id))
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.0.contains(&Self::key(id))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Cuts a torn last line (a crash in the middle of a write) off `path`: everything after the
/// last newline. Returns how many bytes were cut.
pub(crate) fn repair(path: &Path) -> io::Result<u64> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let length = file.metadata()?.len();
    if length == 0 {
        return Ok(0);
    }
    // Read backwards until a newline.
    let mut end = length;
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let start = end.saturating_sub(buffer.len() as u64);
        let size = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buffer[..size])?;
        if let Some(newline) = buffer[..size].iter().rposition(|&byte| byte == b'\n') {
            let keep = start + newline as u64 + 1;
            if keep < length {
                file.set_len(keep)?;
                file.sync_all()?;
            }
            return Ok(length - keep);
        }
        if start == 0 {
            file.set_len(0)?;
            file.sync_all()?;
            return Ok(length);
        }
        end = start;
    }
}

/// Adds the `custom_id` of every line of `path` (if it exists) to `ids`; returns the lines
/// read. A line that does not parse is an error naming it.
pub(crate) fn read_ids(path: &Path, ids: &mut IdSet) -> io::Result<u64> {
    #[derive(serde::Deserialize)]
    struct Line {
        custom_id: String,
    }
    let mut lines = 0;
    let mut failure = None;
    let read = for_each_line(path, |number, text| {
        match serde_json::from_slice::<Line>(text) {
            Ok(line) => {
                ids.insert(&line.custom_id);
                lines += 1;
                true
            }
            Err(error) => {
                failure = Some(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} line {number}: not a batch output line: {error}",
                        path.display()
                    ),
                ));
                false
            }
        }
    });
    match read {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(error) => Err(error),
        Ok(()) => failure.map_or(Ok(lines), Err),
    }
}

/// Reads `path` line by line, calling `each` with the line's number (from 1) and its bytes
/// (without the line ending) until it returns false; blank lines are skipped.
pub(crate) fn for_each_line(
    path: &Path,
    mut each: impl FnMut(u64, &[u8]) -> bool,
) -> io::Result<()> {
    let file = File::open(path)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !each(number, text) {
            return Ok(());
        }
    }
}

/// An output file, appended to one whole line at a time; synced at most every second, and at
/// the end.
#[derive(Debug)]
pub(crate) struct LineWriter {
    /// `None` until the first line, for a file made only when there is something to write.
    file: Option<File>,
    path: std::path::PathBuf,
    synced: Instant,
    dirty: bool,
}

impl LineWriter {
    /// Opens (or creates) the file at `path` now.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let mut writer = Self::when_written(path)?;
        writer.file()?;
        Ok(writer)
    }

    /// The file at `path`, created only when a line is written to it (an errors file, made
    /// only when something failed); one that exists is opened now.
    pub(crate) fn when_written(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut writer = Self {
            file: None,
            path: path.to_owned(),
            synced: Instant::now(),
            dirty: false,
        };
        if path.exists() {
            writer.file()?;
        }
        Ok(writer)
    }

    fn file(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("just opened"))
    }

    /// Appends `line` and a newline in one write: a crash leaves whole lines, or a torn last
    /// one that [`repair`] cuts.
    pub(crate) fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file()?.write_all(&bytes)?;
        self.dirty = true;
        if self.synced.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty
            && let Some(file) = &self.file
        {
            file.sync_data()?;
            self.dirty = false;
        }
        self.synced = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gptproto-files-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn a_torn_last_line_is_cut_and_whole_lines_kept() {
        let path = temp(
            "torn",
            b"{\"custom_id\":\"a\"}\n{\"custom_id\":\"b\"}\n{\"custom_i",
        );
        assert_eq!(repair(&path).unwrap(), 10);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"custom_id\":\"a\"}\n{\"custom_id\":\"b\"}\n"
        );
        assert_eq!(repair(&path).unwrap(), 0, "a whole file is left as it is");
        let mut ids = IdSet::default();
        assert_eq!(read_ids(&path, &mut ids).unwrap(), 2);
        assert!(ids.contains("a") && ids.contains("b") && !ids.contains("c"));
        let only_torn = temp("only", b"{\"custom_id\":");
        assert_eq!(repair(&only_torn).unwrap(), 13);
        assert_eq!(std::fs::metadata(&only_torn).unwrap().len(), 0);
    }

    #[test]
    fn appended_lines_are_whole() {
        let path = temp("append", b"");
        let mut writer = LineWriter::open(&path).unwrap();
        writer.write_line("{\"custom_id\":\"x\"}").unwrap();
        writer.write_line("{\"custom_id\":\"y\"}").unwrap();
        writer.sync().unwrap();
        let mut ids = IdSet::default();
        assert_eq!(read_ids(&path, &mut ids).unwrap(), 2);
    }
}
