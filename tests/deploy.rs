//! The deployment files, checked without a Docker engine. `docker-compose.yml` parses as YAML;
//! every Warren container runs a binary this workspace builds, and every `WARREN_*` variable it
//! sets is one that binary reads (its `--help` names it); every service of the system is there,
//! the gateway twice; Redis keeps an append-only file; health checks ask `/readyz`; the broker's
//! ports are published on 127.0.0.1 only, and each process logs in as its own broker user, one the
//! setup script makes, trusting the gateway's with players. The Grafana dashboard in `deploy/`
//! parses and asks only for metrics the code records. `docs/configuration.md` lists every setting
//! each binary's `--help` shows, as read by that binary. (`deploy_edge.rs` checks the balancer and
//! the monitoring profile; `scripts/check-compose` checks the file against the Compose
//! Specification's schema.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::compose::*;
use common::processes::{SERVICES, binary};
use std::path::PathBuf;
use yaml_rust2::Yaml;

#[test]
fn every_container_runs_a_binary_with_the_settings_it_reads() {
    let services = compose();
    let mut run = Vec::new();
    for (name, service) in &services {
        let command = strings(service.get("command"));
        let Some(program) = command.first().filter(|p| p.starts_with("warren")) else {
            continue;
        };
        let help = std::process::Command::new(binary(program))
            .arg("--help")
            .output()
            .unwrap();
        assert!(help.status.success(), "{program} --help");
        let help = String::from_utf8_lossy(&help.stdout);
        let environment = service.get("environment").map(merged).unwrap_or_default();
        assert!(!environment.is_empty(), "{name} sets no settings");
        for variable in environment.keys().filter(|k| k.starts_with("WARREN_")) {
            assert!(
                help.contains(variable.as_str()),
                "service {name} sets {variable}, which {program} does not read"
            );
        }
        let health = strings(
            service
                .get("healthcheck")
                .and_then(|h| merged(h).remove("test"))
                .as_ref(),
        );
        assert!(
            health.iter().any(|part| part.ends_with("/readyz")),
            "{name}'s health check: {health:?}"
        );
        run.push(program.clone());
    }
    run.sort();
    // Two gateways behind the balancer; services scale with --scale.
    let mut expected: Vec<String> = SERVICES.iter().map(|b| (*b).to_owned()).collect();
    expected.push("warren-gateway".into());
    expected.sort();
    assert_eq!(
        run, expected,
        "one container per service, two of the gateway"
    );
}

#[test]
fn the_backends_are_rabbitmq_with_its_ui_and_redis_with_an_append_only_file() {
    let services = compose();
    let rabbitmq = &services["rabbitmq"];
    assert!(rabbitmq["image"].as_str().unwrap().contains("management"));
    let redis = strings(services["redis"].get("command"));
    let appendonly = redis.iter().position(|a| a == "--appendonly").unwrap();
    assert_eq!(redis[appendonly + 1], "yes", "{redis:?}");
}

/// `${NAME:?message}` or `${NAME:-default}`: `NAME`.
fn variable(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?;
    inner.split([':', '}']).next()
}

#[test]
fn each_process_logs_in_to_a_broker_reachable_from_this_machine_only_as_its_own_user() {
    let services = compose();
    let rabbitmq = &services["rabbitmq"];
    let ports = strings(rabbitmq.get("ports"));
    assert!(!ports.is_empty());
    for port in &ports {
        assert!(
            port.starts_with("127.0.0.1:"),
            "the broker's {port} is published to all"
        );
    }
    let broker = rabbitmq.get("environment").map(merged).unwrap_or_default();
    let setting = |name: &str| broker.get(name).and_then(Yaml::as_str).unwrap_or_default();
    let (vhost, prefix) = (
        setting("WARREN_BROKER_VHOST"),
        setting("WARREN_BROKER_USER_PREFIX"),
    );
    assert_eq!(prefix, "warren-");
    let mut users = Vec::new();
    for (name, service) in &services {
        let Some(program) = program(service) else {
            continue;
        };
        let environment = service.get("environment").map(merged).unwrap_or_default();
        let get = |key: &str| {
            environment
                .get(key)
                .and_then(Yaml::as_str)
                .unwrap_or_default()
        };
        assert_eq!(get("WARREN_AMQP_GATEWAY_USER"), "warren-gateway", "{name}");
        let url = get("WARREN_AMQP_URL");
        let rest = url.strip_prefix("amqp://").unwrap_or_default();
        let (credentials, address) = rest.rsplit_once('@').unwrap_or_default();
        let (user, password) = credentials.split_once(':').unwrap_or_default();
        assert_eq!(address, format!("rabbitmq:5672/{vhost}"), "{name}: {url}");
        // The user the setup script makes for this binary, with the password it is given.
        let own = user.strip_prefix(prefix).unwrap_or_default();
        assert_eq!(user, program, "{name} logs in as {user}");
        let expected = format!(
            "WARREN_AMQP_PASSWORD_{}",
            own.replace('-', "_").to_uppercase()
        );
        assert_eq!(variable(password), Some(expected.as_str()), "{name}: {url}");
        assert_eq!(
            broker
                .get(&expected)
                .and_then(Yaml::as_str)
                .and_then(variable),
            Some(expected.as_str()),
            "the broker's setup is not given {expected}"
        );
        users.push(user.to_owned());
    }
    users.sort();
    users.dedup();
    assert_eq!(
        users.len(),
        SERVICES.len(),
        "one broker user per process: {users:?}"
    );
    let script = root().join("deploy/rabbitmq/setup-users.sh");
    let script = std::fs::read_to_string(script).unwrap();
    for user in &users {
        let own = user.strip_prefix(prefix).unwrap();
        assert!(
            script.contains(&format!("\"{own}\"")),
            "setup-users.sh makes no {own}"
        );
    }
}

#[test]
fn the_dashboard_asks_for_metrics_the_code_records() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dashboard = std::fs::read_to_string(root.join("deploy/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut source = String::new();
    for dir in [
        "bus",
        "gateway",
        "sessions",
        "rooms",
        "matchmaker",
        "runtime",
        "accounts",
    ] {
        read_rust(&root.join(dir).join("src"), &mut source);
    }
    let mut asked = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("warren_") {
                    asked.push(word.to_owned());
                }
            }
        }
    }
    assert!(asked.len() >= 10, "{asked:?}");
    for metric in asked {
        let recorded = ["_bucket", "_count", "_sum"]
            .iter()
            .fold(metric.as_str(), |m, suffix| {
                m.strip_suffix(suffix).unwrap_or(m)
            });
        assert!(
            source.contains(&format!("\"{recorded}\"")),
            "the dashboard asks for {metric}, which nothing records"
        );
    }
}

fn read_rust(dir: &std::path::Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_rust(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The settings `name --help` shows: each flag with its environment variable.
fn settings_of(name: &str) -> Vec<(String, String)> {
    let help = std::process::Command::new(binary(name))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success(), "{name} --help failed");
    let help = String::from_utf8(help.stdout).unwrap();
    let mut settings = Vec::new();
    let mut flag = None;
    for line in help.lines() {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("--") {
            flag = rest.split_whitespace().next().map(|f| format!("--{f}"));
        }
        if let (Some(flag), Some((_, env))) = (&flag, line.split_once("[env: ")) {
            let var = env.split(['=', ']']).next().unwrap().to_owned();
            settings.push((flag.clone(), var));
        }
    }
    settings
}

#[test]
fn the_configuration_doc_lists_every_setting_of_every_binary() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let rows: Vec<Vec<&str>> = doc
        .lines()
        .filter(|l| l.starts_with("| "))
        .map(|l| l.split(" | ").map(str::trim).collect())
        .collect();
    let mut checked = 0;
    for name in std::iter::once("warren").chain(SERVICES) {
        let settings = settings_of(name);
        assert!(
            settings.len() >= 8,
            "{name}: too few settings read from --help"
        );
        for (flag, var) in settings {
            let read_by_it = rows.iter().any(|row| {
                let (Some(flags), Some(vars), Some(readers)) = (row.get(1), row.get(2), row.last())
                else {
                    return false;
                };
                let readers = readers.trim_end_matches('|').trim();
                flags.contains(&format!("`{flag}`"))
                    && vars.contains(&format!("`{var}`"))
                    && (readers.starts_with("all")
                        || readers.split(", ").any(|reader| reader == name))
            });
            assert!(
                read_by_it,
                "docs/configuration.md has no row for {flag} / {var} read by {name}"
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} settings checked");
}
