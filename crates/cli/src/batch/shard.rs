//! `--shard K/N`: which lines this process takes, by a stable hash of their `custom_id`.

use std::path::{Path, PathBuf};

/// The environment variable of a Kubernetes Indexed Job's pod index (`--shard auto/N`).
pub(crate) const JOB_INDEX: &str = "JOB_COMPLETION_INDEX";

/// Shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) index: u64,
    pub(crate) count: u64,
}

impl Shard {
    /// `K/N` or `auto/N` (K from `job_index`, the value of [`JOB_INDEX`]).
    pub(crate) fn parse(spec: &str, job_index: Option<&str>) -> Result<Self, String> {
        let refuse = |why: &str| format!("--shard {spec}: {why}");
        let (index, count) = spec
            .split_once('/')
            .ok_or_else(|| refuse("give K/N (0 ≤ K < N) or auto/N"))?;
        let count: u64 = count
            .parse()
            .ok()
            .filter(|count| *count > 0)
            .ok_or_else(|| refuse("N must be a positive number"))?;
        let index: u64 = if index == "auto" {
            let value = job_index.ok_or_else(|| refuse(&format!("auto needs {JOB_INDEX} set")))?;
            value
                .trim()
                .parse()
                .map_err(|_| refuse(&format!("{JOB_INDEX}={value:?} is not a number")))?
        } else {
            index
                .parse()
                .map_err(|_| refuse("K must be a number or auto"))?
        };
        if index >= count {
            return Err(refuse(&format!("K must be below N, not {index}")));
        }
        Ok(Self { index, count })
    }

    /// Whether the line with this id is this shard's: FNV-1a (64-bit) of the id's UTF-8 bytes,
    /// modulo N, equals K.
    pub(crate) fn contains(&self, custom_id: &str) -> bool {
        fnv1a64(custom_id.as_bytes()) % self.count == self.index
    }

    /// `out.jsonl` → `out.shard-K-of-N.jsonl` (the suffix before `.jsonl`, or at the end).
    pub(crate) fn path(&self, path: &Path) -> PathBuf {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tag = format!(".shard-{}-of-{}", self.index, self.count);
        let renamed = match name.strip_suffix(".jsonl") {
            Some(stem) => format!("{stem}{tag}.jsonl"),
            None => format!("{name}{tag}"),
        };
        path.with_file_name(renamed)
    }
}

/// FNV-1a, 64-bit: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_64() {
        // The reference values of the FNV test suite.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_parse_and_split_every_id_once() {
        let shards: Vec<Shard> = (0..4)
            .map(|k| Shard::parse(&format!("{k}/4"), None).unwrap())
            .collect();
        for i in 0..1_000 {
            let id = format!("req-{i}");
            assert_eq!(shards.iter().filter(|s| s.contains(&id)).count(), 1);
        }
        assert_eq!(Shard::parse("auto/4", Some("3")).unwrap().index, 3);
        assert!(
            Shard::parse("auto/4", None)
                .unwrap_err()
                .contains("JOB_COMPLETION_INDEX")
        );
        assert!(Shard::parse("4/4", None).unwrap_err().contains("below N"));
        assert!(Shard::parse("1", None).is_err());
        assert!(Shard::parse("1/0", None).is_err());
        let shard = Shard::parse("2/8", None).unwrap();
        assert_eq!(
            shard.path(Path::new("out/run.jsonl")),
            Path::new("out/run.shard-2-of-8.jsonl")
        );
        assert_eq!(
            shard.path(Path::new("run.out")),
            Path::new("run.out.shard-2-of-8")
        );
    }
}
