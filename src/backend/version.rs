//! The version a read hands to the write that must still find it, kept without an allocation
//! when it is short: every decision reads its function once, and the memory backend's counters
//! (like most Kubernetes resourceVersions) fit inline.

use std::fmt;
use std::ops::Deref;

/// The longest version kept inline (a `u64` counter has at most 20 digits).
const INLINE: usize = 22;

/// An opaque optimistic-concurrency version (e.g. Kubernetes' resourceVersion, the memory
/// backend's counter), read as text: a `&str` wherever a write asks for it.
#[derive(Clone)]
pub struct Version(Repr);

#[derive(Clone)]
enum Repr {
    /// Text of up to [`INLINE`] bytes, always whole UTF-8 (copied from a `&str`).
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Long(String),
}

impl Version {
    /// The version as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Always valid: the bytes were copied from a `str` (or are ASCII digits).
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Long(text) => text,
        }
    }

    fn inline(text: &str) -> Option<Self> {
        let mut bytes = [0; INLINE];
        bytes
            .get_mut(..text.len())?
            .copy_from_slice(text.as_bytes());
        let len = u8::try_from(text.len()).ok()?;
        Some(Self(Repr::Inline { len, bytes }))
    }
}

impl From<u64> for Version {
    /// The counter's decimal digits (itoa, which serde_json uses too), kept inline: a `u64` has at
    /// most 20.
    fn from(counter: u64) -> Self {
        Self::from(itoa::Buffer::new().format(counter))
    }
}

impl From<&str> for Version {
    fn from(text: &str) -> Self {
        Self::inline(text).unwrap_or_else(|| Self(Repr::Long(text.to_owned())))
    }
}

impl From<String> for Version {
    fn from(text: String) -> Self {
        Self::inline(&text).unwrap_or(Self(Repr::Long(text)))
    }
}

impl Deref for Version {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Version {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Version {}

impl PartialEq<str> for Version {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Version {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_reads_as_its_decimal_text() {
        for n in [0, 1, 9, 10, 42, 1_000_000, u64::MAX] {
            assert_eq!(Version::from(n), n.to_string().as_str(), "{n}");
        }
    }

    #[test]
    fn text_of_any_length_reads_back_as_it_was_given() {
        let long = "x".repeat(INLINE + 1);
        let edge = "é".repeat(INLINE / 2);
        for text in [
            "",
            "12345",
            "dep-1:cm-2:3",
            "naïve ✓",
            edge.as_str(),
            long.as_str(),
        ] {
            assert_eq!(Version::from(text).as_str(), text);
            assert_eq!(&*Version::from(text.to_owned()), text);
            assert_eq!(format!("{:?}", Version::from(text)), format!("{text:?}"));
        }
        assert_ne!(Version::from("1"), Version::from("2"));
        assert_eq!(Version::from(7), Version::from("7"));
    }
}
