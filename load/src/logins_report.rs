//! The report of `warren-load logins`: each phase's answers counted by status and by reason, and a
//! verdict per target. Counts add up: in each flood phase, 200 + 401 + 429 + other + no answer is
//! the logins sent, and under each password line the counts add up to its total.
//!
//! One file, as it is one page: the verdicts at its end judge the very figures printed above them,
//! and the targets are read best beside the counts they are checked against.

use crate::baseline::{self, Baseline};
use crate::cpu::Spent;
use crate::flood::{Burst, Outcome};
use crate::memory::Samples;
use crate::probe::{Figures, Sample};
use crate::stats::{self, Percentiles, mib};
use reqwest::Url;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// The hashing process's resident memory must stay under this during the floods.
const MEMORY_TARGET: u64 = 300 * 1024 * 1024;
/// Every login must be answered within this.
const ANSWER_TARGET: Duration = Duration::from_secs(2);
/// The probe's p99 during the floods must be under this.
const PROBE_TARGET: Duration = Duration::from_millis(50);
/// The many-address phase's checks per second, against the baseline's hashes per second.
const RATE_TARGET: f64 = 0.8;

/// What one flood phase sent and measured.
#[derive(Debug)]
pub struct Phase {
    /// Logins with the right password.
    pub right: usize,
    /// The most logins for one username from one address, and from one address in all.
    pub most_per_pair: usize,
    pub most_per_address: usize,
    pub rss_before: Option<u64>,
    /// The CPU time the phase cost, from sending to the last answer.
    pub spent: Spent,
    pub overflows: Option<u64>,
    pub ended: Instant,
    pub burst: Burst,
}

/// Everything the run measured.
#[derive(Debug)]
pub struct Run {
    pub url: Url,
    pub logins: usize,
    pub address: Ipv4Addr,
    pub spread: Vec<Ipv4Addr>,
    pub users: usize,
    pub right_percent: u8,
    pub pid: Option<u32>,
    /// Before the floods and after them, each with what the machine spent meanwhile.
    pub baselines: [(Baseline, Spent); 2],
    pub registered: Duration,
    pub registrations: Vec<Ipv4Addr>,
    pub probe_every: Duration,
    pub quiet: (Instant, Instant),
    pub one_address: Phase,
    pub many_addresses: Phase,
    pub probe: Vec<Sample>,
    pub rss: Option<Samples>,
    pub peak_rss: Option<u64>,
    pub load_before: String,
    /// After the floods, before the second baseline.
    pub load_after: String,
}

impl Run {
    /// The faster baseline: the stricter to compare with.
    fn baseline(&self) -> &Baseline {
        let [(before, _), (after, _)] = &self.baselines;
        if after.rate > before.rate {
            after
        } else {
            before
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    NotMet,
    NotMeasured,
}

impl Verdict {
    fn of(met: bool) -> Self {
        if met { Verdict::Met } else { Verdict::NotMet }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "NOT met",
            Verdict::NotMeasured => "not measured",
        }
    }
}

fn secs(took: Duration) -> String {
    format!("{:.2} s", took.as_secs_f64())
}

/// Prints the report; returns how many targets were not met.
pub fn print(run: &Run) -> usize {
    println!(
        "warren-load logins: {} logins from one address, {} from {} addresses, to {}",
        run.logins,
        run.logins,
        run.spread.len(),
        run.url
    );
    let [(before, spent_before), (after, spent_after)] = &run.baselines;
    println!(
        "baseline      {:.1} argon2id hashes/s before the floods, {:.1} after ({}; {} threads, \
         {} hashes in {} and {} in {})",
        before.rate,
        after.rate,
        baseline::parameters(),
        before.threads,
        before.hashes,
        secs(before.elapsed),
        after.hashes,
        secs(after.elapsed)
    );
    let cpu_per_hash = |baseline: &Baseline, spent: &Spent| {
        per(spent.own, baseline.hashes as usize).map_or("unknown".to_owned(), stats::millis)
    };
    println!(
        "  one hash    {} and {} of wall time on one thread; {} and {} of CPU time",
        stats::millis(before.per_hash()),
        stats::millis(after.per_hash()),
        cpu_per_hash(before, spent_before),
        cpu_per_hash(after, spent_after)
    );
    println!(
        "  CPU         before: {}; after: {}",
        spent_line(run, spent_before),
        spent_line(run, spent_after)
    );
    let (slow, fast) = (before.rate.min(after.rate), before.rate.max(after.rate));
    if slow < fast * 0.85 {
        println!(
            "  uneven      the two differ by {:.0}%: other work on the machine took cores from \
             one of them; the rate target is checked against the faster",
            (1.0 - slow / fast) * 100.0
        );
    }
    let (first, last) = (run.registrations.first(), run.registrations.last());
    println!(
        "users         {} and the probe's, registered in {} ({:.1}/s, 4 at a time, from {} to {})",
        run.users,
        secs(run.registered),
        (run.users + 1) as f64 / run.registered.as_secs_f64().max(1e-9),
        first.map(ToString::to_string).unwrap_or_default(),
        last.map(ToString::to_string).unwrap_or_default(),
    );
    println!(
        "passwords     right in {}% of the logins, wrong guesses in the rest",
        run.right_percent
    );
    let (quiet_from, quiet_to) = run.quiet;
    println!(
        "probe         accounts.me every {} over one WebSocket, signed in before the flood",
        stats::millis(run.probe_every)
    );
    println!(
        "  quiet       {}, the {} before the flood",
        Figures::between(&run.probe, quiet_from, quiet_to),
        secs(quiet_to.duration_since(quiet_from))
    );
    let one = format!(
        "phase 1, one address: {} logins at once from {}",
        run.logins, run.address
    );
    print_phase(run, &one, &run.one_address);
    let spread = match (run.spread.first(), run.spread.last()) {
        (Some(first), Some(last)) if first != last => format!("{first} to {last}"),
        (Some(first), _) => first.to_string(),
        _ => String::new(),
    };
    let many = format!(
        "phase 2, many addresses: {} logins at once from {} addresses, {spread}",
        run.logins,
        run.spread.len()
    );
    print_phase(run, &many, &run.many_addresses);
    let not_met = print_targets(run);
    println!(
        "load average  {} before, {} after",
        run.load_before, run.load_after
    );
    not_met
}

fn print_phase(run: &Run, title: &str, phase: &Phase) {
    let burst = &phase.burst;
    println!("{title}");
    println!(
        "  sent          {} ({} with the right password; at most {} from one address, {} for one \
         username from one address)",
        burst.answers.len(),
        phase.right,
        phase.most_per_address,
        phase.most_per_pair
    );
    let tally = burst.tally();
    let mut by_status: BTreeMap<String, BTreeMap<Option<&str>, usize>> = BTreeMap::new();
    for ((_, outcome), n) in &tally {
        *by_status
            .entry(outcome.status())
            .or_default()
            .entry(outcome.detail())
            .or_default() += n;
    }
    let total = |status: &str| by_status.get(status).map_or(0, |d| d.values().sum());
    for status in ["200", "401", "429"] {
        println!("  {status:<13} {}", total(status));
        if status == "429" {
            print_details(by_status.get(status));
        }
    }
    let others: Vec<_> = by_status
        .iter()
        .filter(|(status, _)| !["200", "401", "429", "no answer"].contains(&status.as_str()))
        .collect();
    let other: usize = others.iter().map(|(_, d)| d.values().sum::<usize>()).sum();
    println!("  other         {other}");
    for (status, details) in others {
        for (detail, n) in details {
            println!("    {n} × {status} {}", detail.unwrap_or(""));
        }
    }
    println!("  no answer     {}", total("no answer"));
    print_details(by_status.get("no answer"));
    for (right, label) in [(true, "right password"), (false, "wrong password")] {
        let lines: Vec<(&Outcome, usize)> = tally
            .iter()
            .filter(|((r, _), _)| *r == right)
            .map(|((_, outcome), n)| (outcome, *n))
            .collect();
        let sum: usize = lines.iter().map(|(_, n)| n).sum();
        println!("  {label}  {sum}");
        for (outcome, n) in lines {
            let detail = outcome
                .detail()
                .map(|d| format!(" {d}"))
                .unwrap_or_default();
            println!("    {n} × {}{detail}", outcome.status());
        }
    }
    let took: Vec<Duration> = burst.answers.iter().map(|a| a.took).collect();
    if let Some(percentiles) = Percentiles::of(took) {
        println!("  answer time   {percentiles}");
    }
    let over = burst
        .answers
        .iter()
        .filter(|a| a.took > ANSWER_TARGET)
        .count();
    println!("  over 2 s      {over}");
    let (checks, took) = burst.checks();
    let server_per_check = per(phase.spent.server, checks)
        .map(|cpu| format!("; server CPU {} per check", stats::millis(cpu)))
        .unwrap_or_default();
    println!(
        "  checks        {checks} in {}: {:.1}/s (answers 200 or 401, from the start to the last\
         {server_per_check})",
        secs(took),
        checks as f64 / took.as_secs_f64().max(1e-9)
    );
    println!("  wall time     {}", secs(burst.elapsed));
    if let Some(overflows) = phase.overflows.filter(|&o| o > 0) {
        println!(
            "  listen queue  {overflows} connection attempts dropped on a full listen queue \
             (whole machine): each waits 1 s or more to retry"
        );
    }
    if let (Some(samples), Some(before)) = (&run.rss, phase.rss_before)
        && let Some(peak) = samples.peak(burst.started, phase.ended)
    {
        println!("  server RSS    peak {}, {} before", mib(peak), mib(before));
    }
    println!("  CPU           {}", spent_line(run, &phase.spent));
    let probe = Figures::between(&run.probe, burst.started, phase.ended);
    println!("  probe         {probe}");
    for (reason, n) in &probe.errors {
        println!("    {n} × {reason}");
    }
}

/// The details of one status, most frequent first.
fn print_details(details: Option<&BTreeMap<Option<&str>, usize>>) {
    let Some(details) = details else {
        return;
    };
    let named = details
        .iter()
        .map(|(detail, &n)| (detail.unwrap_or("(no message)").to_owned(), n));
    let mut counts: Vec<(String, usize)> = named.collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (detail, n) in counts {
        println!("    {n} × {detail}");
    }
}

/// `cpu` shared out over `n`; `None` for none.
fn per(cpu: Option<Duration>, n: usize) -> Option<Duration> {
    let n = u32::try_from(n).ok().filter(|&n| n > 0)?;
    Some(cpu? / n)
}

/// `server 7.86 s, this load generator 0.16 s, others 1.20 s (0.25 cores)`.
fn spent_line(run: &Run, spent: &Spent) -> String {
    let cpu = |cpu: Option<Duration>| cpu.map_or("unknown".to_owned(), secs);
    let others = match spent.others_cores() {
        Some(cores) => format!("{} ({cores:.2} cores)", cpu(spent.others)),
        None => "unknown".to_owned(),
    };
    match run.pid {
        Some(_) => format!(
            "server {}, this load generator {}, rest of the machine {others}",
            cpu(spent.server),
            cpu(spent.own)
        ),
        None => format!(
            "this load generator {}, rest of the machine (the server in it) {others}",
            cpu(spent.own)
        ),
    }
}

/// Prints a verdict per target; returns how many were not met.
fn print_targets(run: &Run) -> usize {
    let from = run.one_address.burst.started;
    let to = run.many_addresses.ended;
    let mut verdicts = Vec::new();

    let memory = match (&run.rss, run.pid) {
        (Some(samples), Some(pid)) => match (samples.peak(from, to), &samples.ended) {
            (_, Some(ended)) => (Verdict::NotMet, format!("pid {pid} went away: {ended}")),
            (Some(peak), None) => (
                Verdict::of(peak < MEMORY_TARGET),
                format!(
                    "peak {} during the floods (under {}; pid {pid}, VmRSS every 50 ms; VmHWM \
                     since it started {})",
                    mib(peak),
                    mib(MEMORY_TARGET),
                    run.peak_rss.map_or("unknown".to_owned(), mib)
                ),
            ),
            (None, None) => (Verdict::NotMeasured, "no sample".to_owned()),
        },
        _ => (Verdict::NotMeasured, "no --pid".to_owned()),
    };
    verdicts.push(("memory", memory));

    let answers: Vec<_> = [&run.one_address, &run.many_addresses]
        .iter()
        .flat_map(|phase| &phase.burst.answers)
        .collect();
    let allowed = answers.iter().filter(|a| a.outcome.is_allowed()).count();
    let slowest = answers.iter().map(|a| a.took).max().unwrap_or_default();
    let over = stats::tally(answers.iter().filter(|a| a.took > ANSWER_TARGET).map(|a| {
        format!(
            "{} {}",
            a.outcome.status(),
            a.outcome.detail().unwrap_or("")
        )
    }));
    let over_count: usize = over.iter().map(|(_, n)| n).sum();
    let mut detail = format!(
        "{allowed} of {} answered 200, 401 or 429; slowest {:.3} s; {over_count} over 2 s",
        answers.len(),
        slowest.as_secs_f64()
    );
    for (reason, n) in &over {
        detail.push_str(&format!("; {n} × {}", reason.trim_end()));
    }
    let met = allowed == answers.len() && over_count == 0;
    verdicts.push(("answers", (Verdict::of(met), detail)));

    let probe = Figures::between(&run.probe, from, to);
    let verdict = match probe.latency {
        _ if probe.calls == 0 => (Verdict::NotMeasured, "no call".to_owned()),
        Some(latency) => (
            Verdict::of(latency.p99 < PROBE_TARGET && probe.failed() == 0),
            format!(
                "p99 {} during the floods (under {}; p50 {}, max {}; {} calls, {} failed)",
                stats::millis(latency.p99),
                stats::millis(PROBE_TARGET),
                stats::millis(latency.p50),
                stats::millis(latency.max),
                probe.calls,
                probe.failed()
            ),
        ),
        None => (Verdict::NotMet, format!("all {} calls failed", probe.calls)),
    };
    verdicts.push(("probe", verdict));

    let (checks, took) = run.many_addresses.burst.checks();
    let rate = checks as f64 / took.as_secs_f64().max(1e-9);
    let baseline = run.baseline().rate;
    let ratio = rate / baseline.max(1e-9);
    let rate = (
        Verdict::of(checks > 0 && ratio >= RATE_TARGET),
        format!(
            "{rate:.1} checks/s from many addresses = {ratio:.2}× the bare argon2id rate of \
             {baseline:.1}/s, the faster baseline (at least {RATE_TARGET}×)"
        ),
    );
    verdicts.push(("login rate", rate));

    println!("targets");
    for (name, (verdict, detail)) in &verdicts {
        println!("  {name:<12} {:<8} {detail}", verdict.label());
    }
    verdicts
        .iter()
        .filter(|(_, (verdict, _))| *verdict == Verdict::NotMet)
        .count()
}
