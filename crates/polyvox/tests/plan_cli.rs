//! `polyvox plan` end to end through the binary: a good workload prints a sizing per instance type
//! computed from the capacity file it is given; bad workloads and files exit 2 with a stable code
//! and a message naming the flag and the limit. No model needed.

mod common;
use common::*;

const CAPACITY: &str = r#"{"machine":"test","cores":2,"measured_at_unix":0,"command":"test",
  "synth_chars_per_sec_per_core":20.0,"realtime_factor_per_core":1.2,"worker_rss_mib":600.0,
  "api_requests_per_sec_per_core":500.0,"api_source":"test"}"#;

fn plan(extra: &[&str], capacity: &std::path::Path) -> std::process::Output {
    let base = [
        "plan",
        "--users",
        "10000",
        "--requests-per-user-day",
        "10",
        "--avg-chars",
        "200",
        "--cache-hit-rate",
        "0.3",
        "--capacity",
        capacity.to_str().expect("utf-8 path"),
    ];
    let mut args: Vec<&str> = base.to_vec();
    // clap rejects a repeated flag, so an override replaces the base value in place.
    for pair in extra.chunks(2) {
        match args.iter().position(|a| *a == pair[0]) {
            Some(i) => args[i + 1] = pair[1],
            None => args.extend_from_slice(pair),
        }
    }
    run(polyvox().args(&args))
}

#[test]
fn a_workload_is_sized_from_the_capacity_file() {
    let dir = tempdir();
    let cap = dir.path().join("capacity.json");
    std::fs::write(&cap, CAPACITY).expect("write");
    let out = plan(&[], &cap);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // 10,000 × 10 / 86,400 × 3 = 3.47 requests/s at peak; 486 chars/s / (20 × 0.7) = 34.7 cores.
    assert!(text.contains("3.47 requests/s"), "{text}");
    assert!(text.contains("34.7 worker cores"), "{text}");
    // c7i.xlarge: 4 sessions per instance → 9 workers + 2 API = 11 × $0.1785 × 730 h = $1433, over
    // 10,000 users $0.143 a user-month, 0.86 of the plan's $1660 / 10,000.
    assert!(
        text.contains("| c7i.xlarge | aws | 4 | 4 | 9 | 2 | 1433 | 0.143 | 0.86× |"),
        "{text}"
    );
    assert!(text.contains("vs plan's $0.17"), "{text}");
    // The measured real-time factor (1.2 in the file) beside the plan's assumed 2.1 per vCPU.
    assert!(
        text.contains("assumed 2.1× real time per vCPU; this machine measured 1.20× (0.57 of"),
        "{text}"
    );

    // Doubling measured speed halves the workers: the figures come from the file.
    std::fs::write(&cap, CAPACITY.replace("20.0", "40.0")).expect("write");
    let text = String::from_utf8_lossy(&plan(&[], &cap).stdout).to_string();
    assert!(
        text.contains("| c7i.xlarge | aws | 4 | 4 | 5 | 2 | 912 | 0.091 |"),
        "{text}"
    );
    // A price override applies.
    let out = plan(&["--price", "c7i.xlarge=1"], &cap);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("| c7i.xlarge | aws | 4 | 4 | 5 | 2 | 5110 | 0.511 |")
    );
}

#[test]
fn bad_workloads_and_files_exit_2_naming_the_flag() {
    let dir = tempdir();
    let cap = dir.path().join("capacity.json");
    std::fs::write(&cap, CAPACITY).expect("write");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--users", "-5"],
            "--users: -5 is out of range: must be at least 1",
        ),
        (
            &["--cache-hit-rate", "1.5"],
            "--cache-hit-rate: 1.5 is out of range: must be between 0 and 1",
        ),
        (&["--avg-chars", "0"], "--avg-chars"),
        (&["--price", "nope=1"], "unknown instance type `nope`"),
    ];
    for (extra, want) in cases {
        let out = plan(extra, &cap);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("error[invalid_request]") && err.contains(want),
            "{extra:?}: {err}"
        );
    }
    let missing = dir.path().join("missing.json");
    let out = plan(&[], &missing);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));
    std::fs::write(
        &cap,
        CAPACITY.replace(r#""api_requests_per_sec_per_core":500.0,"#, ""),
    )
    .expect("write");
    let out = plan(&[], &cap);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("load-test.sh"), "{}", stderr(&out));
}
