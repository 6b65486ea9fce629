//! CPU time from /proc: a process's user plus system time (from /proc/<pid>/stat, as the perf
//! harness reads it), and the machine's load averages.

use anyhow::Context;
use std::time::Duration;

/// Clock ticks per second in /proc/<pid>/stat: USER_HZ, which Linux fixes at 100 for what it
/// shows user space whatever the kernel's own tick rate.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of the processes so far, from /proc/<pid>/stat.
pub fn cpu_time(pids: &[u32]) -> anyhow::Result<Duration> {
    let mut total = Duration::ZERO;
    for pid in pids {
        total += cpu_of(&format!("/proc/{pid}/stat"))
            .with_context(|| format!("is process {pid} running?"))?;
    }
    Ok(total)
}

/// User plus system CPU time from a /proc/…/stat file.
pub fn cpu_of(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let ticks = cpu_ticks(&stat).with_context(|| format!("unreadable {path}: {stat}"))?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// utime + stime (fields 14 and 15) of a /proc/<pid>/stat line. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses itself, so fields are counted from its last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|line| {
            line.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_past_the_command_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        let stat = "4242 (warren (a) b) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 56 0 0 20 0 9 0";
        assert_eq!(cpu_ticks(stat), Some(1290));
        assert_eq!(cpu_ticks("4242 (warren) S 1"), None);
        assert_eq!(cpu_ticks("garbage"), None);
    }
}
