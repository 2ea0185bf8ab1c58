//! What a function's labels allow NOW, for an intent completed after they changed: a crash left
//! "scale to 6", then `faas-cli deploy` lowered max to 3 (or pinned min = max) before the restart.
//! The intent's count was decided on the old labels; sending it again would set a count the
//! function's labels forbid, which nothing corrects (the re-sent notification is a duplicate).
//! Labels that no longer parse allow no count at all: nothing is sent on them.

use crate::config::{Config, LabelDefaults, Platform};
use crate::labels::{self, LabelError};

use super::gateway::FunctionStatus;

/// The label defaults, ceiling and platform limits the service parses labels with.
#[derive(Debug, Clone)]
pub(super) struct Bounds {
    defaults: LabelDefaults,
    ceiling: u32,
    platform: Platform,
}

impl Bounds {
    pub(super) fn from_config(config: &Config) -> Self {
        Self {
            defaults: config.labels,
            ceiling: config.max_replicas_ceiling,
            platform: config.platform.clone(),
        }
    }

    /// `to` fitted into what the function's labels allow now: [min, max], or 0 where it may
    /// sleep. Labels that no longer parse are the error a decision on them is refused with: no
    /// count may be sent on them.
    pub(super) fn fit(&self, status: &FunctionStatus, to: u32) -> Result<u32, LabelError> {
        let scaling = status.scaling_labels();
        labels::parse_within(&scaling, &self.defaults, self.ceiling, &self.platform)
            .map(|l| l.fit(to))
    }
}
