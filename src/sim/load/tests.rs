use super::*;

fn trace(specs: Vec<LoadSpec>) -> Trace {
    Trace::compile(&specs, Path::new("."), "f").unwrap()
}

#[test]
fn shapes_add_up() {
    let t = trace(vec![
        LoadSpec::Step {
            rps: 10.0,
            start_secs: 5.0,
            end_secs: Some(10.0),
        },
        LoadSpec::Ramp {
            from_rps: 0.0,
            to_rps: 100.0,
            start_secs: 0.0,
            end_secs: 10.0,
            hold_until_secs: Some(20.0),
        },
        LoadSpec::OnOff {
            rps: 1.0,
            on_secs: 2.0,
            off_secs: 3.0,
            start_secs: 0.0,
            end_secs: None,
        },
    ]);
    assert_eq!(t.at(0.0).rps, 1.0);
    assert_eq!(t.at(2.0).rps, 20.0);
    assert_eq!(t.at(5.0).rps, 10.0 + 50.0 + 1.0);
    assert_eq!(t.at(15.0).rps, 100.0 + 1.0);
    assert_eq!(t.at(23.0).rps, 0.0);
}

#[test]
fn csv_is_held_between_rows_and_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("l.csv"), "t,f,g\n0,1,9\n10,5,9\n").unwrap();
    let csv = |path: &str| LoadSpec::Csv {
        path: path.into(),
        column: None,
    };
    let t = Trace::compile(&[csv("l.csv")], dir.path(), "f").unwrap();
    assert_eq!((t.at(3.0).rps, t.at(12.0).rps), (1.0, 5.0));
    std::fs::write(dir.path().join("b.csv"), "t,f\n0,1\n1,x\n").unwrap();
    let err = Trace::compile(&[csv("b.csv")], dir.path(), "f").unwrap_err();
    assert!(err.to_string().contains("line 3"), "{err}");
    let err = Trace::compile(&[csv("l.csv")], dir.path(), "h").unwrap_err();
    assert!(err.to_string().contains("no column"), "{err}");
}

#[test]
fn a_segment_that_cannot_describe_a_load_is_refused_by_name() {
    let sine = |mean: f64, amplitude: f64, period: f64, phase: f64| LoadSpec::Sine {
        mean_rps: mean,
        amplitude_rps: amplitude,
        period_secs: period,
        phase_secs: phase,
    };
    let spike = |at: f64, width: f64| LoadSpec::Spike {
        peak_rps: 10.0,
        at_secs: at,
        width_secs: width,
    };
    let ramp = |end: f64, hold: Option<f64>| LoadSpec::Ramp {
        from_rps: 0.0,
        to_rps: 10.0,
        start_secs: 10.0,
        end_secs: end,
        hold_until_secs: hold,
    };
    let clients = |n: f64, end: Option<f64>| LoadSpec::Clients {
        clients: n,
        think_ms: 0.0,
        start_secs: 10.0,
        end_secs: end,
    };
    let on_off = |on: f64, off: f64| LoadSpec::OnOff {
        rps: 1.0,
        on_secs: on,
        off_secs: off,
        start_secs: 0.0,
        end_secs: None,
    };
    for (spec, says) in [
        (
            sine(f64::NAN, 1.0, 60.0, 0.0),
            "sine\"): mean_rps = NaN is not a finite",
        ),
        (
            sine(1.0, f64::INFINITY, 60.0, 0.0),
            "amplitude_rps = inf is not a finite",
        ),
        (
            sine(1.0, 1.0, 60.0, f64::NEG_INFINITY),
            "phase_secs = -inf is not",
        ),
        (sine(-1.0, 1.0, 60.0, 0.0), "mean_rps = -1 must be ≥ 0"),
        (sine(1.0, 1.0, 0.0, 0.0), "period_secs = 0 must be > 0"),
        (spike(f64::NAN, 5.0), "spike\"): at_secs = NaN"),
        (spike(5.0, -60.0), "width_secs = -60 must be > 0"),
        (ramp(f64::NAN, None), "end_secs = NaN is not a finite"),
        (ramp(5.0, None), "it ends (5 s) before it starts (10 s)"),
        (
            ramp(20.0, Some(15.0)),
            "hold_until_secs = 15 is before end_secs = 20",
        ),
        (clients(f64::INFINITY, None), "clients = inf is not"),
        (
            clients(2e6, None),
            "clients = 2000000 must be at most 1000000",
        ),
        (
            clients(5.0, Some(10.0)),
            "it ends (10 s) before it starts (10 s)",
        ),
        (on_off(f64::NAN, 1.0), "on_secs = NaN is not"),
        (on_off(1.0, -1.0), "off_secs = -1 must be ≥ 0"),
    ] {
        let specs = [sine(1.0, 0.0, 60.0, 0.0), spec.clone()];
        let err = Trace::compile(&specs, Path::new("."), "f").unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("function f: load segment 2 (kind = \"") && err.contains(says),
            "{spec:?}: {err}"
        );
    }
    assert!(
        Trace::compile(
            &[ramp(20.0, Some(20.0)), clients(5.0, None)],
            Path::new("."),
            "f"
        )
        .is_ok()
    );
}

#[test]
fn poisson_mean_is_lambda_and_seeded() {
    for lambda in [3.0, 200.0] {
        let mut rng = Rng::new(7);
        let n = 20_000;
        let mean: f64 = (0..n).map(|_| rng.poisson(lambda)).sum::<f64>() / f64::from(n);
        assert!((mean - lambda).abs() < 0.05 * lambda, "{lambda}: {mean}");
    }
    let (mut a, mut b) = (Rng::new(1), Rng::new(1));
    assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
}
