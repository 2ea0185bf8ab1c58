//! What a write did, as the decision reports it.

use crate::backend::Applied;
use crate::policy::Decision;

/// The decision as the backend carried it out: a scale reports the count the backend really set,
/// and the reason says why it differs from the count asked (e.g. the CE gateway's cap). The
/// backend only says what it set; what that means for the decision is the service's to report.
pub(super) fn carried_out(decision: Decision, applied: &Applied) -> Decision {
    match (decision, applied.replicas) {
        (Decision::Scale { from, to, reason }, Some(set)) if set != to => {
            let why = applied
                .note
                .as_deref()
                .unwrap_or("the backend set another count");
            Decision::Scale {
                from,
                to: set,
                reason: format!("{reason}; asked {to}, {why}"),
            }
        }
        (decision, _) => decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale(to: u32) -> Decision {
        Decision::Scale {
            from: 1,
            to,
            reason: "capacity".into(),
        }
    }

    #[test]
    fn a_clamped_scale_reports_what_was_set_and_why() {
        let applied = Applied {
            replicas: Some(5),
            note: Some("the gateway set 5: OpenFaaS CE allows 1 to 5 replicas".into()),
        };
        assert_eq!(
            carried_out(scale(6), &applied),
            Decision::Scale {
                from: 1,
                to: 5,
                reason: "capacity; asked 6, the gateway set 5: OpenFaaS CE allows 1 to 5 replicas"
                    .into(),
            }
        );
        let silent = Applied {
            replicas: Some(5),
            note: None,
        };
        assert!(matches!(
            carried_out(scale(6), &silent),
            Decision::Scale { to: 5, reason, .. } if reason.ends_with("asked 6, the backend set another count")
        ));
    }

    #[test]
    fn what_was_asked_or_no_scale_stays_as_decided() {
        let as_asked = Applied {
            replicas: Some(6),
            note: None,
        };
        assert_eq!(carried_out(scale(6), &as_asked), scale(6));
        let ledger_only = Applied::default();
        assert_eq!(carried_out(scale(6), &ledger_only), scale(6));
        let refused = Decision::Refused {
            reason: "bad labels".into(),
        };
        assert_eq!(carried_out(refused.clone(), &as_asked), refused);
    }
}
