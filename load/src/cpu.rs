//! CPU time from /proc: a process's user plus system time (from /proc/<pid>/stat, as the perf
//! harness reads it), the whole machine's (from /proc/stat), what a stretch of a run cost the
//! server, this load generator and everything else, and the machine's load averages.

use anyhow::Context;
use std::time::{Duration, Instant};

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

/// CPU time the whole machine has been busy so far (user, nice, system, irq, softirq and steal
/// of /proc/stat's `cpu` line; guest time is within user).
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks = busy_ticks(&stat)?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// The busy ticks of a /proc/stat: `cpu  user nice system idle iowait irq softirq steal …`.
fn busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0);
    Some(at(0) + at(1) + at(2) + at(5) + at(6) + at(7))
}

/// CPU time read at the start of a stretch of a run.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    pid: Option<u32>,
    server: Option<Duration>,
    own: Option<Duration>,
    machine: Option<Duration>,
    started: Instant,
}

/// What a stretch of a run cost.
#[derive(Debug, Clone, Copy)]
pub struct Spent {
    /// The server's CPU time (`None` without its pid).
    pub server: Option<Duration>,
    /// This load generator's.
    pub own: Option<Duration>,
    /// Everything else on the machine: other processes, and the hypervisor's steal. Without the
    /// server's pid the server is in it.
    pub others: Option<Duration>,
    pub wall: Duration,
}

impl Meter {
    pub fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            server: server_cpu(pid),
            own: cpu_of("/proc/self/stat").ok(),
            machine: machine_busy(),
            started: Instant::now(),
        }
    }

    pub fn stop(self) -> Spent {
        let since = |before: Option<Duration>, after: Option<Duration>| {
            Some(after?.saturating_sub(before?))
        };
        let server = since(self.server, server_cpu(self.pid));
        let own = since(self.own, cpu_of("/proc/self/stat").ok());
        let machine = since(self.machine, machine_busy());
        let others = machine.map(|machine| {
            machine
                .saturating_sub(server.unwrap_or_default())
                .saturating_sub(own.unwrap_or_default())
        });
        Spent {
            server,
            own,
            others,
            wall: self.started.elapsed(),
        }
    }
}

impl Spent {
    /// Cores the rest of the machine kept busy on average: `0.42`.
    pub fn others_cores(&self) -> Option<f64> {
        Some(self.others?.as_secs_f64() / self.wall.as_secs_f64().max(1e-9))
    }
}

/// The server's CPU time so far, if asked for and readable.
fn server_cpu(pid: Option<u32>) -> Option<Duration> {
    cpu_time(&[pid?])
        .map_err(|error| tracing::warn!(error = %format!("{error:#}"), "server CPU time"))
        .ok()
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

    #[test]
    fn the_machine_is_busy_outside_idle_and_iowait() {
        let stat = "cpu  498319 7 78438 1897106 3698 11 732 4152 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(
            busy_ticks(stat),
            Some(498_319 + 7 + 78_438 + 11 + 732 + 4152)
        );
        assert_eq!(busy_ticks("cpu0 1 2 3\n"), None);
        assert!(machine_busy().is_some());
    }

    #[test]
    fn a_meter_splits_the_cost() {
        let meter = Meter::start(Some(std::process::id()));
        let spent = meter.stop();
        assert!(spent.server.is_some() && spent.own.is_some() && spent.others.is_some());
        assert!(spent.others_cores().is_some_and(|cores| cores >= 0.0));
    }
}
