//! Say in a decision's reason when the platform's replica limits shaped it: a move that stops at
//! a max the platform lowered ("label max 20 capped to 5: OpenFaaS CE allows at most 5 replicas"),
//! or a scale to zero the platform cannot do. Pure, like every policy.

use super::{Decision, Why};
use crate::config::Platform;
use crate::labels::ScaleLabels;

/// The decision with the platform's part in it said; otherwise unchanged.
pub(crate) fn explain(decision: Decision, labels: &ScaleLabels, platform: &Platform) -> Decision {
    let capped = |to: u32| {
        labels
            .limit
            .label_max
            .filter(|_| to == labels.max)
            .map(|asked| {
                format!(
                    "label max {asked} capped to {}: {}",
                    labels.max,
                    platform.at_most(labels.max)
                )
            })
    };
    match decision {
        Decision::Scale { from, to, reason } => match capped(to).filter(|_| to > from) {
            Some(note) => Decision::Scale {
                from,
                to,
                reason: format!("{reason}; {note}"),
            },
            None => Decision::Scale { from, to, reason },
        },
        Decision::Unchanged { why, reason } => {
            let note = match why {
                Why::AtMax => capped(labels.max),
                Why::NoZero if labels.limit.zero_blocked => Some(platform.no_zero()),
                _ => None,
            };
            Decision::Unchanged {
                why,
                reason: match note {
                    Some(note) => format!("{reason}; {note}"),
                    None => reason,
                },
            }
        }
        refused @ Decision::Refused { .. } => refused,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::LabelDefaults;
    use crate::config::StepBase;
    use crate::labels::parse_within;
    use crate::policy::step;
    use crate::policy::testkit::up;

    fn labels(pairs: &[(&str, &str)], platform: &Platform) -> Result<ScaleLabels, String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_within(&map, &LabelDefaults::default(), 100, platform).map_err(|e| e.to_string())
    }

    const MAX: &str = crate::labels::MAX;
    const MIN: &str = crate::labels::MIN;
    const FACTOR: &str = crate::labels::FACTOR;
    const ZERO: &str = crate::labels::ZERO;

    #[test]
    fn labels_are_fitted_into_the_platform() {
        let ce = Platform::openfaas_ce();
        let open = Platform::default();
        // (labels, platform) → (min, max, step base, zero) or the refusal's words.
        type Want = Result<(u32, u32, u32, bool), &'static str>;
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a Platform, Want);
        let cases: [Case; 9] = [
            (&[], &open, Ok((1, 20, 20, false))),
            (&[], &ce, Ok((1, 5, 5, false))),
            (&[(MAX, "3")], &ce, Ok((1, 3, 3, false))),
            (&[(MIN, "0")], &open, Ok((0, 20, 20, false))),
            (&[(MIN, "0"), (ZERO, "true")], &open, Ok((0, 20, 20, true))),
            (&[(ZERO, "true")], &ce, Ok((1, 5, 5, false))),
            (&[(MIN, "0")], &ce, Err("does not scale to zero")),
            (
                &[(MIN, "7"), (MAX, "9")],
                &ce,
                Err("allows at most 5 replicas"),
            ),
            (&[(MAX, "500")], &ce, Err("ceiling 100")),
        ];
        for (pairs, platform, want) in cases {
            let got = labels(pairs, platform);
            match (got, want) {
                (Ok(l), Ok(want)) => {
                    assert_eq!((l.min, l.max, l.step_max(), l.zero), want, "{pairs:?}")
                }
                (Err(e), Err(words)) => assert!(e.contains(words), "{pairs:?}: {e}"),
                (got, want) => panic!("{pairs:?}: got {got:?}, want {want:?}"),
            }
        }
        let refusal = labels(&[(MIN, "0")], &ce).unwrap_err();
        assert!(
            refusal.contains("set com.openfaas.scale.min to 1 or more"),
            "{refusal}"
        );
    }

    #[test]
    fn the_step_base_selects_ce_0_27_or_the_classic_formula() {
        let classic = Platform {
            step_base: StepBase::LabelMax,
            ..Platform::openfaas_ce()
        };
        let ce_0_27 = Platform::openfaas_ce();
        // echo-fn as observed on a CE 0.27.14 gateway: min 1, max 20, factor 20.
        let echo = [(MAX, "20"), (FACTOR, "20")];
        let trigger = up("APIHighInvocationRate", None, None);
        let walk = |platform: &Platform| {
            let l = labels(&echo, platform).unwrap();
            let mut seen = vec![1];
            for _ in 0..5 {
                let current = *seen.last().unwrap();
                seen.push(step::propose(&l, current, &trigger).unwrap().desired);
            }
            seen
        };
        assert_eq!(walk(&ce_0_27), [1, 2, 3, 4, 5, 5]);
        assert_eq!(walk(&classic), [1, 5, 5, 5, 5, 5]);
        // figlet: min 2, max 14, factor 50 → 2 → 5 under both.
        let figlet = labels(&[(MIN, "2"), (MAX, "14"), (FACTOR, "50")], &ce_0_27).unwrap();
        assert_eq!(step::step(figlet.step_max(), figlet.factor), 3);
    }

    #[test]
    fn a_capped_move_says_why() {
        let ce = Platform::openfaas_ce();
        let l = labels(&[(MAX, "20"), (FACTOR, "50")], &ce).unwrap();
        let up = |from, to| Decision::Scale {
            from,
            to,
            reason: "step".into(),
        };
        let reason = explain(up(3, 5), &l, &ce).reason().to_owned();
        assert_eq!(
            reason,
            "step; label max 20 capped to 5: OpenFaaS CE allows at most 5 replicas"
        );
        assert_eq!(
            explain(up(1, 4), &l, &ce).reason(),
            "step",
            "not at the cap"
        );
        assert_eq!(
            explain(up(8, 5), &l, &ce).reason(),
            "step",
            "a move down is not a cap"
        );
        let at_max = Decision::Unchanged {
            why: Why::AtMax,
            reason: "at max".into(),
        };
        assert!(
            explain(at_max, &l, &ce)
                .reason()
                .contains("allows at most 5")
        );
        let uncapped = labels(&[(MAX, "4")], &ce).unwrap();
        assert_eq!(explain(up(3, 4), &uncapped, &ce).reason(), "step");
        let sleepy = labels(&[(ZERO, "true")], &ce).unwrap();
        let no_zero = Decision::Unchanged {
            why: Why::NoZero,
            reason: "no zero".into(),
        };
        assert!(
            explain(no_zero, &sleepy, &ce)
                .reason()
                .contains("scale_to_zero = false")
        );
    }
}
