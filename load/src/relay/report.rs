//! What a relay run measured and the page it prints, kept apart from the run so that the figures
//! set beside Colyseus's are read in one place, and the run reads as its phases.

use super::player::Errors;
use super::{Flow, RelayArgs};
use crate::stats::{self, Percentiles, thousands};
use std::time::Duration;

/// How long each phase took, and what the run counted.
#[derive(Debug, Default)]
pub(super) struct Measured {
    pub(super) registered: usize,
    pub(super) register: Duration,
    pub(super) logged_in: usize,
    pub(super) login: Duration,
    pub(super) connected: usize,
    pub(super) connect: Duration,
    pub(super) seated: usize,
    /// From the first seating request to the last player seated.
    pub(super) seat: Duration,
    pub(super) joined: usize,
    pub(super) join: Duration,
    pub(super) round_trips: Vec<Duration>,
    /// The command phase, wall clock.
    pub(super) commands: Duration,
    pub(super) server_cpu: Option<Duration>,
    /// This process's CPU time over the command phase: that the client is not the bottleneck.
    pub(super) own_cpu: Option<Duration>,
    pub(super) sockets_lost: usize,
    pub(super) errors: Errors,
    pub(super) load_before: String,
    pub(super) load_after: String,
}

pub(super) fn report(args: &RelayArgs, players: u32, measured: &Measured) {
    let flow = match args.flow {
        Flow::Rooms => "public rooms",
        Flow::Matchmaker => "the matchmaker",
    };
    let per_session = args.per_session;
    let rate = |n: usize, took: Duration| n as f64 / took.as_secs_f64().max(1e-9);
    let secs = |took: Duration| format!("{:.2} s", took.as_secs_f64());
    let expected = u64::from(players) * u64::from(args.commands);
    let completed = measured.round_trips.len();
    println!(
        "warren-load relay: {players} players in sessions of {per_session} through {flow}, \
         {} commands each, to {}",
        args.commands, args.url
    );
    println!("players       {players}");
    println!(
        "sessions      {}",
        measured.joined / per_session.max(1) as usize
    );
    println!(
        "register      {} in {} ({:.1}/s, {} at a time)",
        measured.registered,
        secs(measured.register),
        rate(measured.registered, measured.register),
        args.auth_concurrency
    );
    println!(
        "login         {} in {} ({:.1}/s)",
        measured.logged_in,
        secs(measured.login),
        rate(measured.logged_in, measured.login)
    );
    println!(
        "connect       {} in {}",
        measured.connected,
        secs(measured.connect)
    );
    println!(
        "seated        {} in {} ({} joins/s; with connecting, {} joins/s)",
        measured.seated,
        secs(measured.seat),
        thousands(rate(measured.seated, measured.seat)),
        thousands(rate(measured.seated, measured.seat + measured.connect))
    );
    println!(
        "sessions.join {} in {}",
        measured.joined,
        secs(measured.join)
    );
    println!(
        "commands ok   {} of {}",
        thousands(completed as f64),
        thousands(expected as f64)
    );
    println!("wall time     {}", secs(measured.commands));
    println!(
        "throughput    {} commands/s",
        thousands(rate(completed, measured.commands))
    );
    if let Some(percentiles) = Percentiles::of(measured.round_trips.clone()) {
        println!("round trip    {percentiles}");
    }
    if let Some(cpu) = measured.server_cpu {
        let per_command = match completed {
            0 => "no commands".to_owned(),
            n => format!("{:.1} µs per command", cpu.as_secs_f64() * 1e6 / n as f64),
        };
        let pids: Vec<String> = args.server_pid.iter().map(u32::to_string).collect();
        println!(
            "server CPU    {} over the commands, {per_command} (pids {})",
            stats::millis(cpu),
            pids.join(",")
        );
    }
    if let Some(cpu) = measured.own_cpu {
        println!(
            "client CPU    {} over the commands (this load generator)",
            stats::millis(cpu)
        );
    }
    println!(
        "load average  {} before, {} after the commands",
        measured.load_before, measured.load_after
    );
    println!("errors        {}", measured.errors.total());
    for (kind, n) in &measured.errors.by_kind {
        println!("  {kind:<20} {n}");
    }
    println!("sockets lost  {}", measured.sockets_lost);
    for example in &measured.errors.examples {
        println!("  e.g. {example}");
    }
}
