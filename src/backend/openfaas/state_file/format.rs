//! The state file's format: the types stored per function, the version and size bounds, and the
//! encoding to and from bytes. Pure (no I/O), so the store can encode a snapshot under its lock and
//! write it outside, and the bounds sit beside what they bound.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StateError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// Version of the file format; a different version is refused rather than guessed.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The largest state file read (625 MiB): room for [`SUPPORTED_FUNCTIONS`] functions each at its
/// largest ([`SLOT_MAX_BYTES`]). A wrong `state_file` (a huge unrelated file) is refused at start,
/// naming it, instead of being read until memory runs out; a device is not a file at all.
pub const STATE_MAX_BYTES: usize = SLOT_MAX_BYTES * SUPPORTED_FUNCTIONS;

/// The most functions one alertscaler is built and measured for (the memory goal and the fleet
/// simulation are at 10 000).
const SUPPORTED_FUNCTIONS: usize = 10_000;

/// One function's largest slot in the file (64 KiB): its ledger is bounded (32 episodes of each
/// kind, under the longest fingerprint and alert name a payload may send, `alert::MAX_*_BYTES`),
/// and while a scale is in flight the intent holds a second copy; pretty-printed, with the longest
/// function name, the whole is about 61 KiB. Typical slots are well under 1 KiB.
pub(super) const SLOT_MAX_BYTES: usize = 64 * 1024;

/// What is remembered about one function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    /// Bumped on every write: the optimistic-concurrency version the provider API lacks.
    pub counter: u64,
    pub entry: Stored,
    /// Set while a scale call is (or may be) in flight; see [`Pending`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// A scale call recorded BEFORE it is made (write-ahead intent). `entry` above already holds the
/// ledger as it will be after the scale; `previous` is the ledger before it. If alertscaler dies or
/// the call's outcome is unknown, the next read compares the gateway's replicas with `from`/`to`:
/// at `to` the scale landed and the new ledger stands (a duplicate is then held, not applied again);
/// at `from` it did not, and `previous` is restored so the notification is decided afresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub from: u32,
    pub to: u32,
    pub previous: Stored,
}

/// The whole ledger, keyed by function.
pub(crate) type Slots = BTreeMap<FunctionId, Slot>;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    version: u32,
    /// Keyed by `name.namespace`.
    functions: BTreeMap<String, Slot>,
}

/// Serialise the ledger (pure, so the caller can snapshot under a lock and write outside it).
pub fn encode(slots: &Slots) -> Vec<u8> {
    let file = FileFormat {
        version: FORMAT_VERSION,
        functions: slots
            .iter()
            .map(|(id, slot)| (id.to_string(), slot.clone()))
            .collect(),
    };
    // Plain data with string keys: serialisation cannot fail.
    serde_json::to_vec_pretty(&file).unwrap_or_default()
}

/// Parse the file's bytes into the ledger: the format version must be [`FORMAT_VERSION`] and
/// every key a function `name.namespace`; `path` only names the file in the error.
pub(super) fn decode(path: &Path, bytes: &[u8]) -> Result<Slots, StateError> {
    let corrupt = |message: String| StateError::Corrupt {
        path: path.to_owned(),
        message,
    };
    let file: FileFormat = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.version != FORMAT_VERSION {
        return Err(corrupt(format!(
            "format version {} is not {FORMAT_VERSION}",
            file.version
        )));
    }
    file.functions
        .into_iter()
        .map(|(key, slot)| {
            // An empty default namespace makes a key without `.namespace` invalid.
            let id = FunctionId::parse(&key, "").map_err(|e| {
                corrupt(format!("key {key:?} is not a function name.namespace: {e}"))
            })?;
            Ok((id, slot))
        })
        .collect()
}
