use super::*;

fn args() -> PlanArgs {
    PlanArgs {
        users: 10_000.0,
        requests_per_user_day: 10.0,
        avg_chars: 200.0,
        cache_hit_rate: 0.3,
        peak_factor: 3.0,
        target_utilization: 0.7,
        polls_per_job: 3.0,
        min_api_instances: 2,
        capacity: PathBuf::from("unused.json"),
        prices: None,
        price_overrides: Vec::new(),
    }
}

fn capacity() -> Capacity {
    Capacity {
        machine: "test".into(),
        cores: 2,
        measured_at_unix: 0,
        command: "test".into(),
        synth_chars_per_sec_per_core: 20.0,
        realtime_factor_per_core: 1.2,
        worker_rss_mib: 600.0,
        api_requests_per_sec_per_core: Some(500.0),
        api_source: None,
    }
}

fn t(vcpus: u32, mem: f64, usd: f64) -> InstanceType {
    InstanceType {
        name: "t".into(),
        provider: "p".into(),
        vcpus,
        memory_gib: mem,
        usd_per_hour: usd,
    }
}

fn invalid_field(r: Result<Workload, PlanError>) -> (&'static str, String) {
    match r {
        Err(PlanError::Invalid { field, message }) => (field, message),
        other => panic!("expected an invalid-field error, got {other:?}"),
    }
}

#[test]
fn demand_follows_the_workload() {
    let w = Workload::from_args(&args()).expect("valid");
    // 100,000 requests a day = 1.157/s on average, ×3 at peak.
    assert!((w.peak_rps() - 100_000.0 / 86_400.0 * 3.0).abs() < 1e-9);
    // 70% are misses, 200 characters each.
    assert!((w.peak_synth_chars_per_sec() - w.peak_rps() * 0.7 * 200.0).abs() < 1e-9);
    assert!((w.peak_api_rps() - w.peak_rps() * 4.0).abs() < 1e-9);
}

#[test]
fn sizing_rounds_up_and_respects_memory_and_minimums() {
    let w = Workload::from_args(&args()).expect("valid");
    let c = capacity();
    // 3.472 rps × 0.7 × 200 = 486.1 chars/s; / (20 × 0.7) = 34.72 cores.
    let (synth, api) = cores_needed(&w, &c);
    assert!((synth - 486.111_111 / 14.0).abs() < 1e-3, "{synth}");
    assert!(api < 1.0, "{api}");
    // 4 vCPUs and plenty of memory: 4 sessions per instance → ceil(34.72 / 4) = 9 workers.
    let s = size(&w, &c, &t(4, 16.0, 0.1));
    assert_eq!(
        (s.sessions_per_instance, s.worker_instances, s.api_instances),
        (4, 9, 2)
    );
    assert!((s.usd_per_month - 11.0 * 0.1 * 730.0).abs() < 1e-6);
    // 10,000 users share it: $803 / 10,000.
    assert!((s.usd_per_user_month - 11.0 * 0.1 * 730.0 / 10_000.0).abs() < 1e-9);
    // 4 GiB holds only 5 sessions of 600 MiB at 80%; 8 vCPUs cannot all be used.
    let s = size(&w, &c, &t(8, 4.0, 0.1));
    assert_eq!(s.sessions_per_instance, 5);
    assert_eq!(s.worker_instances, 7);
}

#[test]
fn all_cache_hits_still_leave_one_worker_and_the_api_minimum() {
    let mut a = args();
    a.cache_hit_rate = 1.0;
    let w = Workload::from_args(&a).expect("valid");
    let s = size(&w, &capacity(), &t(2, 4.0, 0.05));
    assert_eq!((s.worker_instances, s.api_instances), (1, 2));
}

#[test]
fn faster_measured_synthesis_means_fewer_workers() {
    let w = Workload::from_args(&args()).expect("valid");
    let mut fast = capacity();
    fast.synth_chars_per_sec_per_core *= 2.0;
    let slow = size(&w, &capacity(), &t(4, 16.0, 0.1)).worker_instances;
    let quick = size(&w, &fast, &t(4, 16.0, 0.1)).worker_instances;
    assert!(quick < slow, "{quick} vs {slow}");
}

#[test]
fn bad_workloads_name_the_field_and_the_limit() {
    let mut a = args();
    a.users = -5.0;
    let (f, m) = invalid_field(Workload::from_args(&a));
    assert_eq!(f, "--users");
    assert!(m.contains("-5") && m.contains("at least 1"), "{m}");

    let mut a = args();
    a.cache_hit_rate = 1.5;
    let (f, m) = invalid_field(Workload::from_args(&a));
    assert_eq!(f, "--cache-hit-rate");
    assert!(m.contains("between 0 and 1"), "{m}");

    let mut a = args();
    a.avg_chars = 0.0;
    assert_eq!(invalid_field(Workload::from_args(&a)).0, "--avg-chars");
    let mut a = args();
    a.requests_per_user_day = f64::NAN;
    assert_eq!(
        invalid_field(Workload::from_args(&a)).0,
        "--requests-per-user-day"
    );
    let mut a = args();
    a.target_utilization = 1.2;
    assert_eq!(
        invalid_field(Workload::from_args(&a)).0,
        "--target-utilization"
    );
    let mut a = args();
    a.peak_factor = 0.5;
    assert_eq!(invalid_field(Workload::from_args(&a)).0, "--peak-factor");
}

#[test]
fn the_built_in_price_table_parses_and_overrides_apply() {
    let types = parse_prices("built-in", DEFAULT_PRICES, &["c7i.xlarge=0.5".into()]).expect("ok");
    assert!(types.len() >= 4);
    let x = types
        .iter()
        .find(|t| t.name == "c7i.xlarge")
        .expect("listed");
    assert_eq!((x.vcpus, x.usd_per_hour), (4, 0.5));
}

#[test]
fn bad_price_tables_and_overrides_are_rejected() {
    let e = parse_prices("f.csv", "a,aws,2,4\n", &[]).expect_err("4 fields");
    assert!(e.to_string().contains("line 1") && e.to_string().contains("5 fields"));
    let e = parse_prices("f.csv", "a,aws,two,4,0.1\n", &[]).expect_err("vcpus");
    assert!(e.to_string().contains("vcpus `two`"), "{e}");
    let e = parse_prices("f.csv", "a,aws,2,4,-1\n", &[]).expect_err("negative");
    assert!(e.to_string().contains("usd_per_hour"), "{e}");
    let e = parse_prices("f.csv", "a,aws,2,4,0.1\n", &["b=1".into()]).expect_err("unknown");
    assert!(e.to_string().contains("unknown instance type `b`"), "{e}");
    let e = parse_prices("f.csv", "a,aws,2,4,0.1\n", &["a".into()]).expect_err("no =");
    assert!(e.to_string().contains("NAME=USD_PER_HOUR"), "{e}");
    assert!(parse_prices("f.csv", "# only a comment\n", &[]).is_err());
}

#[test]
fn capacity_files_without_measurements_are_rejected() {
    let good = serde_json::to_string(&capacity()).expect("json");
    assert!(Capacity::parse("c.json", &good).is_ok());
    let mut c = capacity();
    c.api_requests_per_sec_per_core = None;
    let e =
        Capacity::parse("c.json", &serde_json::to_string(&c).expect("json")).expect_err("no api");
    assert!(e.to_string().contains("load-test.sh"), "{e}");
    let mut c = capacity();
    c.synth_chars_per_sec_per_core = 0.0;
    let e = Capacity::parse("c.json", &serde_json::to_string(&c).expect("json")).expect_err("zero");
    assert!(
        e.to_string().contains("synth_chars_per_sec_per_core"),
        "{e}"
    );
    let e = Capacity::parse("c.json", "{}").expect_err("empty");
    assert!(e.to_string().starts_with("capacity file c.json"), "{e}");
}
