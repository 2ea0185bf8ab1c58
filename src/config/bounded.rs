//! Files named by the operator, read with a bound: a path to a device (`/dev/zero`) or a huge file
//! given by mistake is refused with one line naming it, instead of being read until memory runs out.

use std::io::Read;
use std::path::Path;

/// The largest configuration file read (16 MiB). The memory backend's function table lives in the
/// file: `scripts/bench.sh` writes 50 000 functions in about 2 MB, and with a few labels each
/// (a few hundred bytes a function) such a table still fits. Far above any hand-written file.
pub const CONFIG_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The largest TLS certificate or key file read (1 MiB). A chain is a few certificates of 1–2 KB
/// each and a key a few KB; even a whole CA bundle (about 220 KB) fits.
pub const PEM_MAX_BYTES: usize = 1024 * 1024;

/// Why a bounded read gave no contents.
#[derive(Debug)]
pub enum BoundedError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// The file holds more than the bound (only the bound and one byte were read).
    TooLarge { limit: usize },
}

/// The contents of `path`, at most `limit` bytes: a longer file is [`BoundedError::TooLarge`]
/// without being read when its size says so, and a device (`/dev/zero`) or a file that grows as it is
/// read after reading one byte past the bound.
pub fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, BoundedError> {
    let file = std::fs::File::open(path).map_err(BoundedError::Io)?;
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > limit as u64)
    {
        return Err(BoundedError::TooLarge { limit });
    }
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(BoundedError::Io)?;
    if bytes.len() > limit {
        return Err(BoundedError::TooLarge { limit });
    }
    Ok(bytes)
}

/// A bound in words: "16 MiB", "64 KiB", "100 bytes".
pub fn size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_at_the_bound_is_read_and_one_byte_more_or_a_device_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "a".repeat(100)).unwrap();
        assert_eq!(read_bounded(&path, 100).unwrap().len(), 100);
        assert!(matches!(
            read_bounded(&path, 99),
            Err(BoundedError::TooLarge { limit: 99 })
        ));
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 4096),
            Err(BoundedError::TooLarge { limit: 4096 })
        ));
        assert!(matches!(
            read_bounded(&dir.path().join("missing"), 100),
            Err(BoundedError::Io(_))
        ));
    }

    #[test]
    fn a_bound_is_said_in_its_largest_whole_unit() {
        assert_eq!(size(CONFIG_MAX_BYTES), "16 MiB");
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(1536), "1536 bytes");
    }
}
