//! Every metric the Grafana dashboard in `deploy/` queries is on the `/metrics` of a `warren`
//! process that has just started, before any client has done anything: a panel over a series that
//! appears only at its first use shows "No data" until then, and `rate()` or `increase()` miss
//! that first event. Checked for the real binary, embedded and over RabbitMQ and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes::{Deployment, Process};
use common::{SECRET, unique};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The `warren_*` metric names in the `expr` of every query target of the dashboard.
fn dashboard_metrics() -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    let names: BTreeSet<String> = exprs.iter().flat_map(|expr| metric_names(expr)).collect();
    // The dashboard has a dozen panels over some twenty metrics: far fewer means the walk above
    // missed its queries, not that they are gone.
    assert!(names.len() >= 10, "{names:?} from {exprs:?}");
    names
}

/// The `expr` of each target in every `targets` list, at any depth (a row's panels too).
fn collect_exprs(value: &Value, exprs: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(targets)) = object.get("targets") {
                exprs.extend(
                    targets
                        .iter()
                        .filter_map(|target| target["expr"].as_str().map(str::to_owned)),
                );
            }
            object
                .values()
                .for_each(|value| collect_exprs(value, exprs));
        }
        Value::Array(items) => items.iter().for_each(|item| collect_exprs(item, exprs)),
        _ => {}
    }
}

/// Every `warren_[a-z0-9_]+` in a PromQL expression that is a whole name, not the tail of one.
fn metric_names(expr: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut names = Vec::new();
    for (start, _) in expr.match_indices("warren_") {
        let before = expr[..start].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let name: String = expr[start..].chars().take_while(|c| is_name(*c)).collect();
        names.push(name);
    }
    names
}

/// The names of the samples in a scrape: each line's series name, before its labels.
fn sample_names(scrape: &str) -> BTreeSet<&str> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect()
}

/// Starts `warren` with `env`, scrapes its `/metrics` once it listens, and checks every metric
/// the dashboard queries is there.
async fn every_dashboard_metric_is_there_at_start(mode: &str, env: &[(&'static str, String)]) {
    let wanted = dashboard_metrics();
    let log = std::env::temp_dir().join(format!("{}.log", unique("fresh-metrics")));
    let (process, admin) =
        Process::start_warren(Path::new(env!("CARGO_BIN_EXE_warren")), env, &log).await;
    let scrape = reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    drop(process);
    let _ = std::fs::remove_file(&log);
    let present = sample_names(&scrape);
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|name| !present.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{mode}: the dashboard queries {missing:?}, not on a fresh process's /metrics:\n{scrape}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded() {
    let secret = String::from_utf8(SECRET.to_vec()).unwrap();
    every_dashboard_metric_is_there_at_start("embedded", &[("WARREN_JWT_SECRET", secret)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_rabbitmq_and_redis() {
    // A vhost and a Redis namespace of the test's own, both gone when it is dropped (after the
    // process, which the helper has stopped by then).
    let deployment = Deployment::new();
    every_dashboard_metric_is_there_at_start("over RabbitMQ and Redis", &deployment.env).await;
}

#[test]
fn names_are_read_whole_from_queries() {
    let expr = "sum(rate(warren_a_total[1m])) / my_warren_b + warren_c_bucket";
    assert_eq!(metric_names(expr), ["warren_a_total", "warren_c_bucket"]);
    let scrape = "# TYPE warren_a_total counter\nwarren_a_total{x=\"1\"} 0\nwarren_c 1\n";
    assert_eq!(
        sample_names(scrape),
        BTreeSet::from(["warren_a_total", "warren_c"])
    );
}
