//! Functions as `GET /system/functions` lists them: [`FunctionSummary`] (owned), [`SummaryRef`]
//! (borrowed from where a backend keeps the function) and [`JsonListing`], the array written a
//! page at a time. Apart from the [`Backend`](super::Backend) trait, whose listing methods produce
//! them, so that `mod.rs` reads as what a backend is; re-exported there under their old paths.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// A function as listed by `GET /system/functions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionSummary {
    pub name: String,
    pub namespace: String,
    pub replicas: u32,
    pub labels: BTreeMap<String, String>,
    /// Names of the up alerts stored as firing for it, silent ones included (the listing,
    /// [`Backend::list_page`](super::Backend::list_page), leaves those out:
    /// [`FunctionSummary::listed`]).
    pub firing: Vec<String>,
    /// A scale-down held by the stabilization window is still heading here (the settle loop
    /// re-decides only these functions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settling_to: Option<u32>,
    /// Each up alert stored as firing, with when it was last seen: the settle pass decides on a
    /// resolution that never came once the latest is the episode TTL old, and the listing leaves
    /// out each one silent that long. Not listed.
    #[serde(skip)]
    pub up_seen: Vec<(String, DateTime<Utc>)>,
}

impl FunctionSummary {
    /// A listed function, with what its stored state (if any) says.
    pub fn new(
        name: String,
        namespace: String,
        replicas: u32,
        labels: BTreeMap<String, String>,
        stored: Option<&Stored>,
    ) -> Self {
        Self {
            name,
            namespace,
            replicas,
            labels,
            firing: stored.map(Stored::firing_up).unwrap_or_default(),
            settling_to: stored.and_then(Stored::pending_scale_down),
            up_seen: stored
                .map(|s| {
                    let seen = s.ledger.up_seen();
                    seen.map(|(name, at)| (name.to_owned(), at)).collect()
                })
                .unwrap_or_default(),
        }
    }

    /// When the last up alert firing for it was seen (`None`: none fires).
    pub fn up_last_seen(&self) -> Option<DateTime<Utc>> {
        self.up_seen.iter().map(|&(_, at)| at).max()
    }

    /// As `GET /system/functions` lists it when alerts last seen at or before `silent_before`
    /// (now − the episode TTL) have gone silent: those are not firing.
    pub fn listed(mut self, silent_before: DateTime<Utc>) -> Self {
        let seen = self.up_seen.iter().map(|(name, at)| (name.as_str(), *at));
        self.firing = crate::ledger::live_up(seen, Some(silent_before));
        self
    }
}

/// A listed function, borrowed from where the backend keeps it: serialized exactly as
/// [`FunctionSummary`], so a backend can write `GET /system/functions` without copying every
/// function first (at 10 000 functions the copy was most of the listing's peak memory).
#[derive(Debug, Serialize)]
pub struct SummaryRef<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub replicas: u32,
    pub labels: &'a BTreeMap<String, String>,
    pub firing: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settling_to: Option<u32>,
}

impl<'a> SummaryRef<'a> {
    /// A listed function, with what its stored state (if any) says, alerts last seen at or before
    /// `silent_before` left out (as [`FunctionSummary::new`] then [`FunctionSummary::listed`]).
    pub fn new(
        function: &'a FunctionId,
        replicas: u32,
        labels: &'a BTreeMap<String, String>,
        stored: Option<&Stored>,
        silent_before: DateTime<Utc>,
    ) -> Self {
        Self {
            name: &function.name,
            namespace: &function.namespace,
            replicas,
            labels,
            firing: stored
                .map(|s| crate::ledger::live_up(s.ledger.up_seen(), Some(silent_before)))
                .unwrap_or_default(),
            settling_to: stored.and_then(Stored::pending_scale_down),
        }
    }
}

/// The JSON array of a listing, written one function at a time and handed out in pages of about
/// `budget` bytes (`[`, the functions separated by commas, `]`), so that a listing of any length
/// holds one page at a time.
pub struct JsonListing {
    out: Vec<u8>,
    budget: usize,
    /// A function was written (on this page or an earlier one): the next one follows a comma.
    any: bool,
}

impl JsonListing {
    /// An empty array whose pages hold about `budget` bytes each.
    pub fn new(budget: usize) -> Self {
        Self {
            out: vec![b'['],
            budget,
            any: false,
        }
    }

    /// Append one function.
    pub fn push(&mut self, function: &impl Serialize) -> Result<(), BackendError> {
        if self.out.capacity() == 0 {
            // A page is allocated once at about its final size rather than grown by doubling.
            self.out.reserve(self.budget + self.budget / 16);
        }
        if std::mem::replace(&mut self.any, true) {
            self.out.push(b',');
        }
        serde_json::to_writer(&mut self.out, function)
            .map_err(|e| BackendError::Unavailable(format!("cannot write the listing: {e}")))
    }

    /// Whether this page holds its budget: a backend ends the page here.
    pub fn is_full(&self) -> bool {
        self.out.len() >= self.budget
    }

    /// The page written so far; the listing goes on on the next one.
    pub fn take_page(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The last page, with the array's end.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b']');
        self.out
    }
}
