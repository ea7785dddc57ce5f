//! Reading the files a user names (experiments, topologies, reports) with a size bound, so that a
//! wrong path (`/dev/zero`, a disk image, a log) gets an error naming it instead of filling
//! memory until the process is killed.

use std::io::{self, Read};
use std::path::Path;

/// The largest experiment or topology file read: a hand-written experiment is a few KB, a
/// generated one (`chaos shrink`) smaller still.
pub const SOURCE_MAX_BYTES: u64 = 4 << 20;

/// The largest `report.json` read: an hour's report is ~0.5 MB, 700 services' ~1.2 MB.
pub const REPORT_MAX_BYTES: u64 = 256 << 20;

/// Reads `path` as UTF-8 text of at most `limit` bytes; a longer file is an
/// [`io::ErrorKind::InvalidData`] error that gives the limit.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} MiB; is this the file you meant?", limit >> 20),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_within_the_limit_is_read_whole_and_a_longer_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("chaos-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("two-mib.yaml");
        std::fs::write(&path, "a".repeat(2 << 20)).unwrap();
        assert_eq!(read_text(&path, 2 << 20).unwrap().len(), 2 << 20);
        let err = read_text(&path, 1 << 20).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_endless_device_is_refused_after_the_limit() {
        let err = read_text(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
    }
}
