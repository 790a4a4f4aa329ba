//! The fuzz corpora as the repository keeps them: per target, one compressed archive of the
//! minimised inputs (`fuzz/corpus/<target>.tar.gz`, named by their hashes, as libFuzzer
//! writes them) and, beside it, the named inputs as files (`fuzz/corpus/<target>/seed-*`,
//! `regression-*`: written by hand, read in review). Tens of thousands of hash-named files in
//! the tree cost every tool that walks it and every clone; one archive a target does not.
//!
//! A run unpacks the archive into `target/` ([`unpack`]); `--minimize` merges what the run
//! found into the archive's inputs, minimises them, and writes the archive again ([`pack`]),
//! byte for byte the same for the same inputs (sorted names, no times, no owners).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::workspace::{project_root, target_dir};

/// `fuzz/corpus/<target>.tar.gz`.
pub(crate) fn archive(target: &str) -> PathBuf {
    project_root()
        .join("fuzz/corpus")
        .join(format!("{target}.tar.gz"))
}

/// `fuzz/corpus/<target>`: the named inputs.
pub(crate) fn named(target: &str) -> PathBuf {
    project_root().join("fuzz/corpus").join(target)
}

/// The archive's inputs, unpacked afresh into `target/fuzz-corpus-packed/<target>` (an
/// empty folder when there is no archive yet).
pub(crate) fn unpack(target: &str) -> Result<PathBuf, String> {
    let folder = target_dir().join("fuzz-corpus-packed").join(target);
    if folder.exists() {
        std::fs::remove_dir_all(&folder)
            .map_err(|error| format!("cannot empty {}: {error}", folder.display()))?;
    }
    std::fs::create_dir_all(&folder)
        .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    unpack_to(&archive(target), &folder)?;
    Ok(folder)
}

/// Unpacks `archive` (if it exists) into `folder`.
fn unpack_to(archive: &Path, folder: &Path) -> Result<(), String> {
    if archive.exists() {
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(archive)
            .arg("-C")
            .arg(folder)
            .status()
            .map_err(|error| format!("cannot run tar: {error}"))?;
        if !status.success() {
            return Err(format!("tar -xzf {}: {status}", archive.display()));
        }
    }
    Ok(())
}

/// Writes `folder`'s files (not its subfolders) as the target's archive: sorted, without
/// times or owners, gzip without a name or time, so that the same inputs give the same bytes.
pub(crate) fn pack(target: &str, folder: &Path) -> Result<usize, String> {
    pack_to(&archive(target), folder)
}

fn pack_to(archive: &Path, folder: &Path) -> Result<usize, String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map_err(|error| format!("{}: {error}", folder.display()))?
        .flatten()
        .filter(|entry| entry.path().is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let output = std::fs::File::create(archive)
        .map_err(|error| format!("cannot create {}: {error}", archive.display()))?;
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(folder)
        .args([
            "--create",
            "--format=gnu",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mode=a=r,u+w",
            "--use-compress-program=gzip -n -9",
            "--no-recursion",
            "--files-from=-",
            "--file=-",
        ])
        .stdin(Stdio::piped())
        .stdout(output)
        .spawn()
        .map_err(|error| format!("cannot run tar: {error}"))?;
    {
        use std::io::Write;
        let mut list = tar.stdin.take().expect("piped");
        for name in &names {
            writeln!(list, "{name}").map_err(|error| format!("tar's input: {error}"))?;
        }
    }
    let status = tar
        .wait()
        .map_err(|error| format!("cannot run tar: {error}"))?;
    if !status.success() {
        return Err(format!("tar --create {}: {status}", archive.display()));
    }
    Ok(names.len())
}

/// Whether `name` is a named input (kept as a file), not one libFuzzer named by its hash.
pub(crate) fn is_named(name: &str) -> bool {
    !(name.len() == 40 && name.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_names_go_in_the_archive_and_named_inputs_stay_files() {
        assert!(!is_named("017255b859059ef45661cddebbe14e5ce82b09af"));
        assert!(is_named("seed-307-followed"));
        assert!(is_named("regression-h2-304-without-location"));
    }

    #[test]
    fn the_same_inputs_pack_to_the_same_bytes_and_unpack_to_themselves() {
        let scratch = target_dir().join(format!("fuzz-packed-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let (folder, unpacked) = (scratch.join("inputs"), scratch.join("unpacked"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::create_dir_all(&unpacked).unwrap();
        for (name, bytes) in [("b", &b"two"[..]), ("a", b"one"), ("c", b"\x00\xff")] {
            std::fs::write(folder.join(name), bytes).unwrap();
        }
        let archive = scratch.join("corpus.tar.gz");
        assert_eq!(pack_to(&archive, &folder).unwrap(), 3);
        let first = std::fs::read(&archive).unwrap();
        // Written again (a new time): the same archive.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(folder.join("a"), b"one").unwrap();
        pack_to(&archive, &folder).unwrap();
        assert_eq!(first, std::fs::read(&archive).unwrap());
        unpack_to(&archive, &unpacked).unwrap();
        for (name, bytes) in [("a", &b"one"[..]), ("b", b"two"), ("c", b"\x00\xff")] {
            assert_eq!(std::fs::read(unpacked.join(name)).unwrap(), bytes);
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
