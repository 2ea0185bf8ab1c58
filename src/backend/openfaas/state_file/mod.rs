//! The OpenFaaS backend's durable ledger: every function's [`Stored`](crate::stored::Stored) in one
//! local JSON file.
//!
//! The provider API has nowhere to store our ledger beside the function (no annotations we may
//! write, no resourceVersion), so it lives here. The file is replaced atomically: the new contents are
//! written to a temporary file in the same directory, fsynced, renamed over the real path, and the
//! directory is fsynced. A crash at any point leaves either the old or the new file, never a mix; a
//! leftover temporary file is ignored (and overwritten by the next save).
//!
//! The file is local, so the OpenFaaS backend assumes ONE alertscaler replica, and a second process
//! on the same file is refused at start: each would rewrite the whole file from its own memory and
//! drop what the other wrote (`<state_file>.lock`, an advisory lock held while the ledger is open).
//!
//! # Layout
//! - `format`: what the file holds ([`Slot`], [`Pending`], the version and size bounds) and its
//!   encoding to and from bytes, without I/O;
//! - `disk`: reading the file within its bound, the atomic save, the lock file;
//! - `error`: [`StateError`], what is wrong with the file and how to start anyway;
//! - `store`: [`Store`], the ledger in memory kept equal to the file.

mod disk;
mod error;
mod format;
mod store;
#[cfg(test)]
mod tests;

pub use disk::{check_path, load, save, temp_path};
pub use error::StateError;
pub use format::{Pending, STATE_MAX_BYTES, Slot, encode};
pub use store::Store;
