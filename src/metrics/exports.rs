//! The per-function series exported from labels (latency target and tolerance, capacity target)
//! that the rule packs join on `function_name`. Apart from the recording because they follow the
//! functions' labels, not events, and are withdrawn when a function goes.

use std::collections::BTreeMap;

use super::tally::Exported;
use super::{CapacityLabels, FunctionLabels, Metrics};
use crate::id::FunctionId;
use crate::labels::PolicyLabels;

impl Metrics {
    /// Export (or withdraw) the per-function series the rule packs join on `function_name`
    /// (latency target and tolerance, capacity target), from the function's labels as just read.
    /// Functions without a valid label are left out: the pack's default applies to them. This
    /// runs on every read: when nothing changed (the usual case) it takes no write lock and
    /// allocates nothing.
    pub fn export_labels(&self, function: &FunctionId, labels: &BTreeMap<String, String>) {
        self.export(function, Exported::from_labels(labels));
    }

    /// As [`Self::export_labels`], with the policy labels a decision parsed from `labels` already
    /// (it need not parse them a second time).
    pub fn export_parsed_labels(
        &self,
        function: &FunctionId,
        labels: &BTreeMap<String, String>,
        policy: &PolicyLabels,
    ) {
        self.export(function, Exported::from_policy(labels, policy));
    }

    fn export(&self, function: &FunctionId, want: Exported) {
        // The hot path: unchanged labels, a read lock only.
        if self.exports.last(function) == want {
            return;
        }
        self.exports
            .change(function, want, || self.set_label_series(function, want));
    }

    /// The per-function label series as `want` says.
    fn set_label_series(&self, function: &FunctionId, want: Exported) {
        let name = FunctionLabels {
            function_name: function.to_string(),
        };
        match want.latency_target {
            Some(secs) => {
                self.latency_targets.get_or_create(&name).set(secs);
            }
            None => {
                self.latency_targets.remove(&name);
            }
        }
        match want.latency_tolerance {
            Some(ratio) => {
                self.latency_tolerances.get_or_create(&name).set(ratio);
            }
            None => {
                self.latency_tolerances.remove(&name);
            }
        }
        for kind in crate::labels::ScaleType::ALL {
            let key = CapacityLabels {
                function_name: name.function_name.clone(),
                r#type: kind.as_str(),
            };
            match want.capacity.filter(|(k, _)| *k == kind) {
                Some((_, target)) => {
                    self.capacity_targets.get_or_create(&key).set(target);
                }
                None => {
                    self.capacity_targets.remove(&key);
                }
            }
        }
    }

    /// Make the per-function label series those of `functions` (a fresh listing), so deleted
    /// functions disappear. Updated in place: a scrape during the refresh sees every function that
    /// is still there (clearing first left a window with none).
    pub fn replace_label_exports<'a>(
        &self,
        functions: impl IntoIterator<Item = (FunctionId, &'a BTreeMap<String, String>)>,
    ) {
        // Only functions exporting something are kept (most carry no scaling label).
        let mut exporting = std::collections::HashSet::new();
        for (function, labels) in functions {
            self.export_labels(&function, labels);
            if self.exports.last(&function) != Exported::default() {
                exporting.insert(function);
            }
        }
        let none = BTreeMap::new();
        for function in self.exports.functions() {
            if !exporting.contains(&function) {
                self.export_labels(&function, &none);
            }
        }
    }
}
