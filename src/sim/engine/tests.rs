use super::*;

fn scenario(prometheus: &str) -> Scenario {
    let text = format!(
        "name = \"p\"\nduration_secs = 10\n[prometheus]\n{prometheus}\n\
         [[functions]]\nname = \"f\"\nservice_time_ms = 10\nlatency_target_ms = 100\nload = []\n"
    );
    toml::from_str(&text).unwrap()
}

/// The doc: scrape and evaluation phases are drawn from the seed (not aligned with each other), the
/// same for every preset of a run, unless pinned by `scrape_offset_secs` / `evaluation_offset_secs`.
#[test]
fn loop_phases_are_drawn_from_the_seed_unless_pinned() {
    let s = scenario("scrape_interval_secs = 5\nevaluation_interval_secs = 15");
    let drawn: Vec<Phases> = (0..64).map(|seed| Phases::draw(&s, seed)).collect();
    assert!(drawn.iter().all(|p| p.scrape < 5 && p.evaluation < 15));
    assert_eq!(
        drawn[7],
        Phases::draw(&s, 7),
        "the same seed, the same phases"
    );
    let distinct = |f: fn(&Phases) -> u64| {
        let mut v: Vec<u64> = drawn.iter().map(f).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    assert_eq!(distinct(|p| p.scrape), 5, "every scrape phase occurs");
    assert!(distinct(|p| p.evaluation) >= 10);
    assert!(
        distinct(|p| p.kpa % 2) == 2,
        "the KPA tick's phase varies too"
    );
    assert!(
        drawn.iter().any(|p| p.scrape != p.evaluation % 5),
        "scrape and evaluation are not aligned"
    );
    let pinned = scenario(
        "scrape_interval_secs = 5\nevaluation_interval_secs = 15\n\
         scrape_offset_secs = 3\nevaluation_offset_secs = 0",
    );
    for seed in 0..16 {
        let p = Phases::draw(&pinned, seed);
        assert_eq!((p.scrape, p.evaluation), (3, 0));
    }
}
