//! What a write did, as the decision reports it.

use crate::backend::{Applied, Settled};
use crate::policy::{Decision, Why};

/// The decision of a read that settled an earlier write as a move: that move is what this
/// decision reports (from where it started), followed by what was decided after it (a scale from
/// there on, or why nothing more moved).
pub(super) fn after_settling(settled: Settled, decision: Option<Decision>) -> Decision {
    let (to, reason) = match decision {
        None => {
            return Decision::Scale {
                from: settled.from,
                to: settled.to,
                reason: settled.how,
            };
        }
        Some(Decision::Scale { to, reason, .. }) => (to, reason),
        Some(Decision::Unchanged { reason, .. } | Decision::Refused { reason }) => {
            (settled.to, reason)
        }
    };
    Decision::Scale {
        from: settled.from,
        to,
        reason: after(Some(&settled), reason),
    }
}

/// `reason`, after what settling an earlier write did on the way.
pub(super) fn after(settled: Option<&Settled>, reason: String) -> String {
    match settled {
        Some(s) => format!("{}; then {reason}", s.how),
        None => reason,
    }
}

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

/// The decision in dry run: a scale is not carried out (only the ledger is written) but reported
/// as a hold that says what it would have done; anything else stays as decided.
pub(super) fn dry_run(decision: Decision) -> Decision {
    match decision {
        Decision::Scale { from, to, reason } => Decision::Unchanged {
            why: Why::DryRun,
            reason: format!("dry run: would scale {from} → {to} ({reason})"),
        },
        decision => decision,
    }
}

/// A dry-run follow-up's would-be move, said already within the cooldown: a hold (logged at debug,
/// not recorded) until the cooldown has passed.
pub(super) fn dry_run_said(decision: Decision, cooldown: chrono::TimeDelta) -> Decision {
    match decision {
        Decision::Scale { from, to, .. } => Decision::Unchanged {
            why: Why::Cooldown,
            reason: format!(
                "dry run: would scale {from} → {to}, said less than {} s ago",
                cooldown.num_seconds()
            ),
        },
        decision => decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_move_is_reported_from_where_it_started() {
        let settled = || Settled {
            from: 1,
            to: 5,
            how: "an earlier scale 1 → 5, unconfirmed, was sent again".into(),
        };
        let held = Decision::Unchanged {
            why: Why::Duplicate,
            reason: "duplicate".into(),
        };
        assert_eq!(
            after_settling(settled(), Some(held)),
            Decision::Scale {
                from: 1,
                to: 5,
                reason: "an earlier scale 1 → 5, unconfirmed, was sent again; then duplicate"
                    .into()
            }
        );
        let further = Decision::Scale {
            from: 5,
            to: 9,
            reason: "step".into(),
        };
        assert!(matches!(
            after_settling(settled(), Some(further)),
            Decision::Scale { from: 1, to: 9, reason } if reason.ends_with("; then step")
        ));
        // A background pass with nothing more to do still reports the move.
        assert!(matches!(
            after_settling(settled(), None),
            Decision::Scale { from: 1, to: 5, .. }
        ));
    }

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
