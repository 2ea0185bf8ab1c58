//! Scaling labels parsed once for as long as they do not change. A backend that keeps its functions
//! in memory hands every read of a function the same shared labels ([`SharedState`]), so a duplicate
//! notification finds them as the decision before it left them: parsing the `com.openfaas.scale.*`
//! labels again was most of what a labelled function's duplicate cost beyond one without labels.
//!
//! [`SharedState`]: crate::backend::SharedState

use std::sync::{Arc, Mutex};

use crate::backend::Labels;
use crate::labels::{LabelError, ScaleLabels};

/// The labels last parsed per lock stripe, with what they parsed to. Kept per stripe because
/// decisions of one stripe run one at a time (the memo's lock is never contended) and a stripe's
/// function is the one its next decision most likely reads again.
pub(super) struct ParsedLabels {
    stripes: Box<[Mutex<Option<Parsed>>]>,
}

/// Labels as read (holding them keeps them from being freed, so an equal pointer is the same map)
/// and what they parsed to.
struct Parsed {
    labels: Arc<Labels>,
    result: Result<ScaleLabels, LabelError>,
}

impl ParsedLabels {
    /// An empty memo for `stripes` lock stripes.
    pub(super) fn new(stripes: usize) -> Self {
        Self {
            stripes: (0..stripes).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// `labels` parsed by `parse`, or what the very same labels parsed to when last read in
    /// `stripe`. `parse` must depend on nothing but the labels.
    pub(super) fn parse(
        &self,
        stripe: usize,
        labels: &Arc<Labels>,
        parse: impl FnOnce(&Labels) -> Result<ScaleLabels, LabelError>,
    ) -> Result<ScaleLabels, LabelError> {
        let mut last = self.stripes[stripe]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(last) = last.as_ref().filter(|p| Arc::ptr_eq(&p.labels, labels)) {
            return last.result.clone();
        }
        let result = parse(labels);
        *last = Some(Parsed {
            labels: Arc::clone(labels),
            result: result.clone(),
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelRules;

    fn rules() -> LabelRules {
        LabelRules::from_config(&crate::config::Config::default())
    }

    fn labels(max: &str) -> Arc<Labels> {
        Arc::new(Labels::from([(
            "com.openfaas.scale.max".into(),
            max.into(),
        )]))
    }

    #[test]
    fn the_same_labels_parse_once_and_other_labels_again() {
        let (memo, rules) = (ParsedLabels::new(2), rules());
        let parses = std::cell::Cell::new(0);
        let parse = |stripe, l: &Arc<Labels>| {
            memo.parse(stripe, l, |l| {
                parses.set(parses.get() + 1);
                rules.parse(l)
            })
        };
        let (seven, also_seven) = (labels("7"), labels("7"));
        assert_eq!(parse(0, &seven).map(|l| l.max), Ok(7));
        assert_eq!(parse(0, &seven).map(|l| l.max), Ok(7));
        assert_eq!(parses.get(), 1, "the same map again is not parsed again");
        assert_eq!(parse(0, &also_seven).map(|l| l.max), Ok(7));
        assert_eq!(parses.get(), 2, "an equal map read anew is parsed");
        assert!(parse(1, &labels("x")).is_err());
        assert!(parse(1, &labels("x")).is_err());
        assert_eq!(parses.get(), 4, "a refusal is parsed again for another map");
        assert_eq!(parse(0, &also_seven).map(|l| l.max), Ok(7));
        assert_eq!(parses.get(), 4, "each stripe keeps its own");
    }

    #[test]
    fn a_refusal_is_remembered_with_its_reason() {
        let (memo, rules) = (ParsedLabels::new(1), rules());
        let bad = labels("many");
        let first = memo.parse(0, &bad, |l| rules.parse(l)).unwrap_err();
        let again = memo.parse(0, &bad, |_| panic!("parsed again")).unwrap_err();
        assert_eq!(first, again);
        assert!(again.to_string().contains("many"), "{again}");
    }
}
