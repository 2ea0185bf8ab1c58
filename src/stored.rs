//! What alertscaler remembers about one function, stored by the backend beside the function and
//! written together with its replica count under one version.
//!
//! Two parts, each owned and changed by its own module: the ledger's alert episodes
//! ([`ledger::Entry`]) and the policy layer's stabilization window ([`Window`]). Both are
//! flattened into one JSON object, the shape earlier versions stored, so stored state migrates as is.

use serde::{Deserialize, Serialize};

use crate::ledger;
use crate::policy::stabilize::Window;

/// One function's stored state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    #[serde(flatten)]
    pub ledger: ledger::Entry,
    #[serde(flatten)]
    pub window: Window,
}

impl Stored {
    /// Names of the up-direction alerts still firing.
    pub fn firing_up(&self) -> Vec<String> {
        self.ledger.firing_up()
    }

    /// A scale-down the stabilization window still holds back, heading to this count.
    pub fn pending_scale_down(&self) -> Option<u32> {
        self.window.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_json_keeps_the_earlier_flat_shape() {
        let old = r#"{"firing":{},"resolved":{},"last_up":"2026-11-24T06:55:10Z","last_down":null,
            "recommendations":[{"at":"2026-11-24T06:55:10Z","desired":5}],"settle_to":1}"#;
        let stored: Stored = serde_json::from_str(old).unwrap();
        assert_eq!(stored.window.pending, Some(1));
        assert_eq!(stored.window.recommendations[0].desired, 5);
        assert!(stored.ledger.last_up.is_some());
        let again: serde_json::Value = serde_json::to_value(&stored).unwrap();
        assert_eq!(again["settle_to"], 1);
        assert_eq!(again["recommendations"][0]["desired"], 5);
        let round: Stored = serde_json::from_value(again).unwrap();
        assert_eq!(round, stored);
        // An empty object (nothing stored yet by an older version) is the default.
        assert_eq!(
            serde_json::from_str::<Stored>("{}").unwrap(),
            Stored::default()
        );
    }
}
