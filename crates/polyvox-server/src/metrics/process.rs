//! Process CPU, memory, threads and file descriptors from `/proc/self`, under the standard
//! `process_*` names. On systems without `/proc` nothing is recorded (the gauges stay absent
//! rather than reading a misleading zero).

use std::sync::OnceLock;

use polyvox_core::metrics as m;

/// Reads `/proc/self` and sets the process gauges.
pub(crate) fn sample() {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    let ticks = clock_ticks() as f64;
    if let Some(s) = parse_stat(&stat) {
        metrics::gauge!(m::PROCESS_CPU_SECONDS_TOTAL).set((s.utime + s.stime) as f64 / ticks);
        if let Some(boot) = boot_time() {
            metrics::gauge!(m::PROCESS_START_TIME_SECONDS)
                .set(boot as f64 + s.starttime as f64 / ticks);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let st = parse_status(&status);
        if let Some(kb) = st.rss_kb {
            metrics::gauge!(m::PROCESS_RESIDENT_MEMORY_BYTES).set(kb as f64 * 1024.0);
        }
        if let Some(kb) = st.vm_kb {
            metrics::gauge!(m::PROCESS_VIRTUAL_MEMORY_BYTES).set(kb as f64 * 1024.0);
        }
        if let Some(n) = st.threads {
            metrics::gauge!(m::PROCESS_THREADS).set(n as f64);
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!(m::PROCESS_OPEN_FDS).set(dir.count() as f64);
    }
}

/// CPU times from `/proc/self/stat`, in clock ticks.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    /// Ticks after boot at which the process started.
    starttime: u64,
}

/// The command name (field 2) may contain spaces and parentheses, so fields are counted from
/// the last `)`; what follows starts at field 3 (`state`).
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
    })
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Status {
    rss_kb: Option<u64>,
    vm_kb: Option<u64>,
    threads: Option<u64>,
}

fn parse_status(text: &str) -> Status {
    let mut st = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok());
        match key {
            "VmRSS" => st.rss_kb = number,
            "VmSize" => st.vm_kb = number,
            "Threads" => st.threads = number,
            _ => {}
        }
    }
    st
}

/// Clock ticks per second (`AT_CLKTCK` from the auxiliary vector); 100, the value Linux
/// exports on every mainstream architecture, if it cannot be read.
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::fs::read("/proc/self/auxv")
            .ok()
            .and_then(|auxv| auxv_value(&auxv, 17))
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// The value of `key` in a 64-bit auxiliary vector (pairs of native-endian u64).
fn auxv_value(auxv: &[u8], key: u64) -> Option<u64> {
    auxv.chunks_exact(16).find_map(|pair| {
        let k = u64::from_ne_bytes(pair[..8].try_into().ok()?);
        let v = u64::from_ne_bytes(pair[8..].try_into().ok()?);
        (k == key).then_some(v)
    })
}

/// Boot time in seconds since the Unix epoch (`btime` in `/proc/stat`).
fn boot_time() -> Option<u64> {
    static BOOT: OnceLock<Option<u64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with spaces and a parenthesis must not shift the fields.
        let line = "4242 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 9 0 123456 1000 300";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                utime: 250,
                stime: 75,
                starttime: 123456
            })
        );
        assert_eq!(parse_stat("no parens at all"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn status_lines_give_memory_and_threads() {
        let text = "Name:\tpolyvox\nVmSize:\t  2048 kB\nVmRSS:\t   512 kB\nThreads:\t7\n";
        assert_eq!(
            parse_status(text),
            Status {
                rss_kb: Some(512),
                vm_kb: Some(2048),
                threads: Some(7)
            }
        );
    }

    #[test]
    fn auxv_lookup_finds_the_key() {
        let mut v = Vec::new();
        for (k, val) in [(6u64, 4096u64), (17, 250), (0, 0)] {
            v.extend_from_slice(&k.to_ne_bytes());
            v.extend_from_slice(&val.to_ne_bytes());
        }
        assert_eq!(auxv_value(&v, 17), Some(250));
        assert_eq!(auxv_value(&v, 99), None);
    }

    #[test]
    fn this_process_reads_as_alive() {
        // Linux-only behaviour check: our own process has used some CPU and has memory.
        let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
            return;
        };
        let s = parse_stat(&stat).expect("own stat parses");
        assert!(s.starttime > 0);
        let status = parse_status(&std::fs::read_to_string("/proc/self/status").expect("status"));
        assert!(status.rss_kb.is_some_and(|kb| kb > 0));
        assert!(status.threads.is_some_and(|n| n >= 1));
    }
}
