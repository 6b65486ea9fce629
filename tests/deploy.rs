//! The deployment files, checked without a Docker engine. `docker-compose.yml` parses as YAML;
//! every Warren container runs a binary this workspace builds, and every `WARREN_*` variable it
//! sets is one that binary reads (its `--help` names it); every service of the system is there,
//! the gateway twice; Redis keeps an append-only file; health checks ask `/readyz`; the broker's
//! ports are published on 127.0.0.1 only, and each process logs in as its own broker user, one the
//! setup script makes, trusting the gateway's with players. Clients get in only through the
//! balancer, whose nginx.conf passes WebSocket upgrades to exactly the gateways' addresses, retries
//! the other gateway, outwaits the gateways' pings, and is the one proxy the gateways trust.
//! Prometheus (in the `monitoring` profile, with Grafana) scrapes every Warren container; Grafana
//! is provisioned with a Prometheus datasource the dashboard binds to and with the dashboard
//! file. The Grafana dashboard in `deploy/` parses and asks only for metrics the code records.
//! `docs/configuration.md` lists every setting each binary's `--help` shows, as read by that
//! binary. (`scripts/check-compose` checks the file against the Compose Specification's schema
//! and nginx.conf with `nginx -t`; `tests/balancer.rs` runs that nginx.conf.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes::{SERVICES, binary};
use std::collections::BTreeMap;
use std::path::PathBuf;
use yaml_rust2::{Yaml, YamlLoader};

/// A mapping with YAML merge keys (`<<: *anchor`) applied, the keys its own win.
fn merged(node: &Yaml) -> BTreeMap<String, Yaml> {
    let mut out = BTreeMap::new();
    let Yaml::Hash(hash) = node else {
        return out;
    };
    if let Some(base) = hash.get(&Yaml::String("<<".into())) {
        out.extend(merged(base));
    }
    for (key, value) in hash {
        if let Yaml::String(key) = key
            && key != "<<"
        {
            let value = match (value, out.get(key)) {
                (Yaml::Hash(_), Some(Yaml::Hash(_))) => {
                    let mut map = yaml_rust2::yaml::Hash::new();
                    for (k, v) in merged(value) {
                        map.insert(Yaml::String(k), v);
                    }
                    Yaml::Hash(map)
                }
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_file(relative: &str) -> BTreeMap<String, Yaml> {
    let text = std::fs::read_to_string(root().join(relative)).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"));
    merged(&docs[0])
}

/// `docker-compose.yml`'s services, merge keys applied.
fn compose() -> BTreeMap<String, BTreeMap<String, Yaml>> {
    let services = yaml_file("docker-compose.yml")
        .remove("services")
        .expect("a services section");
    merged(&services)
        .into_iter()
        .map(|(name, service)| (name, merged(&service)))
        .collect()
}

/// The Warren binary a service runs, if it runs one.
fn program(service: &BTreeMap<String, Yaml>) -> Option<String> {
    strings(service.get("command"))
        .into_iter()
        .next()
        .filter(|p| p.starts_with("warren"))
}

fn environment(service: &BTreeMap<String, Yaml>) -> BTreeMap<String, String> {
    service
        .get("environment")
        .map(merged)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
        .collect()
}

fn strings(node: Option<&Yaml>) -> Vec<String> {
    match node {
        Some(Yaml::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(Yaml::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

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

/// nginx.conf as its directives, each with the blocks it sits in, outermost first:
/// `(["http", "upstream gateways"], ["server", "172.29.80.11:8080", ...])`.
type Directive = (Vec<String>, Vec<String>);

fn nginx_directives(text: &str) -> Vec<Directive> {
    let (mut out, mut blocks, mut words) = (Vec::new(), Vec::<String>::new(), Vec::new());
    let mut word = String::new();
    let mut quote = None;
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    for line in text.lines() {
        for c in line.chars() {
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                    words.push(std::mem::take(&mut word));
                } else {
                    word.push(c);
                }
                continue;
            }
            match c {
                '#' => break,
                '\'' | '"' => quote = Some(c),
                ';' => {
                    flush(&mut word, &mut words);
                    out.push((blocks.clone(), std::mem::take(&mut words)));
                }
                '{' => {
                    flush(&mut word, &mut words);
                    blocks.push(std::mem::take(&mut words).join(" "));
                }
                '}' => {
                    flush(&mut word, &mut words);
                    blocks.pop();
                }
                c if c.is_whitespace() => flush(&mut word, &mut words),
                c => word.push(c),
            }
        }
        if quote.is_none() {
            flush(&mut word, &mut words);
        }
    }
    assert!(
        blocks.is_empty() && words.is_empty(),
        "nginx.conf: unbalanced"
    );
    out
}

/// The arguments of `name` as nginx applies it in the block `at`: set there, or inherited from
/// the nearest enclosing block that sets it (a block that sets it inherits none of it).
fn effective(conf: &[Directive], at: &[&str], name: &str) -> Vec<Vec<String>> {
    for depth in (0..=at.len()).rev() {
        let found: Vec<Vec<String>> = conf
            .iter()
            .filter(|(blocks, words)| blocks == &at[..depth] && words[0] == name)
            .map(|(_, words)| words[1..].to_vec())
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// `15s`, `500ms`, `1h`, `90` (seconds, as nginx reads a bare number).
fn duration(text: &str) -> std::time::Duration {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("a duration: {text}"));
    let seconds = match unit {
        "ms" => return std::time::Duration::from_millis(number),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => panic!("a duration: {text}"),
    };
    std::time::Duration::from_secs(number * seconds)
}

/// `a.b.c.d` within `a.b.c.d/bits`.
fn in_subnet(address: &str, subnet: &str) -> bool {
    let (network, bits) = subnet.split_once('/').unwrap();
    let (address, network): (std::net::Ipv4Addr, std::net::Ipv4Addr) =
        (address.parse().unwrap(), network.parse().unwrap());
    let mask = u32::MAX
        .checked_shl(32 - bits.parse::<u32>().unwrap())
        .unwrap_or(0);
    u32::from(address) & mask == u32::from(network) & mask
}

fn port_of(address: &str) -> &str {
    address.rsplit(':').next().unwrap()
}

/// A service's address on a network it names, e.g. `edge`.
fn address_on(service: &BTreeMap<String, Yaml>, network: &str) -> String {
    let networks = service.get("networks").map(merged).unwrap_or_default();
    let on = networks.get(network).map(merged).unwrap_or_default();
    on.get("ipv4_address")
        .and_then(Yaml::as_str)
        .unwrap_or_else(|| panic!("no fixed address on {network}: {networks:?}"))
        .to_owned()
}

/// `./host/path:/container/path:ro` as (host, container, read-only).
fn mounts(service: &BTreeMap<String, Yaml>) -> Vec<(String, String, bool)> {
    strings(service.get("volumes"))
        .iter()
        .map(|volume| {
            let parts: Vec<&str> = volume.split(':').collect();
            let read_only = parts.get(2) == Some(&"ro");
            (parts[0].to_owned(), parts[1].to_owned(), read_only)
        })
        .collect()
}

/// Where `host` is mounted read-only in `service`.
fn mounted_at(service: &BTreeMap<String, Yaml>, host: &str) -> String {
    let all = mounts(service);
    let (_, container, read_only) = all
        .iter()
        .find(|(h, _, _)| h == host)
        .unwrap_or_else(|| panic!("{host} is not mounted: {all:?}"));
    assert!(read_only, "{host} is mounted writable");
    container.clone()
}

fn healthcheck(service: &BTreeMap<String, Yaml>) -> Vec<String> {
    strings(
        service
            .get("healthcheck")
            .and_then(|h| merged(h).remove("test"))
            .as_ref(),
    )
}

#[test]
fn clients_get_in_only_through_the_balancer_which_passes_sockets_to_both_gateways() {
    let services = compose();
    let balancer = &services["balancer"];
    assert!(
        balancer["image"].as_str().unwrap().starts_with("nginx:"),
        "a stock nginx"
    );
    assert_eq!(
        mounted_at(balancer, "./deploy/nginx/nginx.conf"),
        "/etc/nginx/nginx.conf"
    );
    assert_eq!(strings(balancer.get("ports")), ["8080:8080"]);
    assert!(healthcheck(balancer).iter().any(|p| p.ends_with("/readyz")));
    for (name, service) in &services {
        if program(service).is_some() {
            let ports = strings(service.get("ports"));
            assert!(ports.is_empty(), "{name} is published: {ports:?}");
        }
    }

    // The balancer and the gateways at fixed addresses in the edge network's subnet.
    let networks = merged(&yaml_file("docker-compose.yml")["networks"]);
    let ipam = merged(&merged(&networks["edge"])["ipam"]);
    let Yaml::Array(config) = &ipam["config"] else {
        panic!("the edge network has no subnet")
    };
    let subnet = merged(&config[0])["subnet"].as_str().unwrap().to_owned();
    let balancer_address = address_on(balancer, "edge");
    assert!(in_subnet(&balancer_address, &subnet));
    let gateways: Vec<_> = services
        .iter()
        .filter(|(_, s)| program(s).as_deref() == Some("warren-gateway"))
        .collect();
    assert_eq!(gateways.len(), 2, "two gateways");
    let mut expected = Vec::new();
    for (name, gateway) in &gateways {
        let environment = environment(gateway);
        let address = address_on(gateway, "edge");
        assert!(in_subnet(&address, &subnet), "{name}: {address}");
        expected.push(format!(
            "{address}:{}",
            port_of(&environment["WARREN_LISTEN"])
        ));
        // The balancer's address only: a client's own X-Forwarded-For is believed from nothing
        // else, so every client is limited by its own address and none can pick another.
        assert_eq!(
            environment.get("WARREN_TRUSTED_PROXIES"),
            Some(&balancer_address),
            "{name} does not trust the balancer, or trusts more"
        );
    }

    let text = std::fs::read_to_string(root().join("deploy/nginx/nginx.conf")).unwrap();
    let conf = nginx_directives(&text);
    let mut servers: Vec<String> = conf
        .iter()
        .filter(|(blocks, words)| {
            blocks.len() == 2 && blocks[1].starts_with("upstream ") && words[0] == "server"
        })
        .map(|(_, words)| words[1].clone())
        .collect();
    servers.sort();
    expected.sort();
    assert_eq!(
        servers, expected,
        "the balancer's upstream is exactly the gateways"
    );
    let upstream: Vec<&str> = conf
        .iter()
        .filter(|(blocks, _)| blocks.len() == 2 && blocks[1].starts_with("upstream "))
        .map(|(_, words)| words[0].as_str())
        .collect();
    assert!(upstream.contains(&"least_conn"), "{upstream:?}");
    assert!(upstream.contains(&"zone"), "the workers share one count");

    let server = ["http", "server"];
    assert_eq!(effective(&conf, &server, "listen"), [["8080"]]);
    let map = conf
        .iter()
        .find(|(blocks, _)| {
            blocks.len() == 2 && blocks[1] == "map $http_upgrade $connection_upgrade"
        })
        .map(|(blocks, _)| blocks.clone())
        .expect("a map from $http_upgrade to $connection_upgrade");
    assert_eq!(
        effective(&conf, &["http", &map[1]], "default"),
        [["upgrade"]]
    );

    let locations: Vec<String> = conf
        .iter()
        .filter(|(blocks, _)| blocks.len() == 3 && blocks[1] == "server")
        .map(|(blocks, _)| blocks[2].clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        locations.contains(&"location = /ws".to_owned()),
        "{locations:?}"
    );
    let ping = gateways
        .iter()
        .map(|(_, g)| {
            environment(g)
                .get("WARREN_PING_INTERVAL")
                .map(|p| duration(p))
        })
        .next()
        .flatten()
        .unwrap_or_else(|| duration(&help_default("warren-gateway", "--ping-interval")));
    for location in &locations {
        let at = ["http", "server", location.as_str()];
        assert_eq!(
            effective(&conf, &at, "proxy_pass"),
            [["http://gateways"]],
            "{location}"
        );
        assert_eq!(
            effective(&conf, &at, "proxy_http_version"),
            [["1.1"]],
            "{location}"
        );
        let headers = effective(&conf, &at, "proxy_set_header");
        for wanted in [
            ["Upgrade", "$http_upgrade"],
            ["Connection", "$connection_upgrade"],
            ["X-Forwarded-For", "$proxy_add_x_forwarded_for"],
            ["X-Real-IP", "$remote_addr"],
        ] {
            assert!(
                headers.iter().any(|h| h == &wanted),
                "{location} does not set {wanted:?}: {headers:?}"
            );
        }
        let next = effective(&conf, &at, "proxy_next_upstream").concat();
        assert!(
            next.contains(&"error".into()) && next.contains(&"timeout".into()),
            "{location}: proxy_next_upstream {next:?}"
        );
    }
    // A socket outlives any number of pings: the gateway, not the balancer, ends a silent one.
    for timeout in ["proxy_read_timeout", "proxy_send_timeout"] {
        let set = effective(&conf, &["http", "server", "location = /ws"], timeout);
        let set = set
            .first()
            .map_or(std::time::Duration::from_secs(60), |t| duration(&t[0]));
        assert!(
            set >= ping * 4,
            "{timeout} {set:?} against pings every {ping:?}"
        );
    }
}

/// The default `name --help` gives for `flag`.
fn help_default(name: &str, flag: &str) -> String {
    let help = std::process::Command::new(binary(name))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let after = help.split(&format!("{flag} ")).nth(1).unwrap();
    let default = after.split("[default: ").nth(1).unwrap();
    default.split(']').next().unwrap().to_owned()
}

#[test]
fn prometheus_and_grafana_start_only_with_the_monitoring_profile() {
    for (name, service) in compose() {
        let profiles = strings(service.get("profiles"));
        match name.as_str() {
            "prometheus" | "grafana" => assert_eq!(profiles, ["monitoring"], "{name}"),
            _ => assert!(profiles.is_empty(), "{name} is in {profiles:?}"),
        }
    }
}

#[test]
fn prometheus_scrapes_every_warren_container() {
    let services = compose();
    let prometheus = &services["prometheus"];
    assert!(
        prometheus["image"]
            .as_str()
            .unwrap()
            .starts_with("prom/prometheus:")
    );
    assert_eq!(
        mounted_at(prometheus, "./deploy/prometheus.yml"),
        "/etc/prometheus/prometheus.yml"
    );
    let config = yaml_file("deploy/prometheus.yml");
    let Some(Yaml::Array(jobs)) = config.get("scrape_configs") else {
        panic!("no scrape_configs")
    };
    let mut targets = Vec::new();
    for job in jobs.iter().map(merged) {
        if let Some(Yaml::Array(statics)) = job.get("static_configs") {
            for target in statics.iter().map(merged) {
                targets.extend(strings(target.get("targets")));
            }
        }
        if let Some(Yaml::Array(dns)) = job.get("dns_sd_configs") {
            for lookup in dns.iter().map(merged) {
                let port = lookup["port"].as_i64().unwrap();
                for name in strings(lookup.get("names")) {
                    targets.push(format!("{name}:{port}"));
                }
            }
        }
    }
    let mut expected = Vec::new();
    for (name, service) in &services {
        if program(service).is_none() {
            continue;
        }
        // The gateway serves /metrics on its admin listener, a service on its one listener.
        let environment = environment(service);
        let listener = environment
            .get("WARREN_ADMIN_LISTEN")
            .or(environment.get("WARREN_LISTEN"))
            .unwrap();
        expected.push(format!("{name}:{}", port_of(listener)));
    }
    targets.sort();
    expected.sort();
    assert_eq!(
        targets, expected,
        "one target per Warren container, no other"
    );
}

#[test]
fn grafana_is_provisioned_with_prometheus_and_the_dashboard() {
    let services = compose();
    let grafana = &services["grafana"];
    assert!(
        grafana["image"]
            .as_str()
            .unwrap()
            .starts_with("grafana/grafana:")
    );
    let provisioning = "/etc/grafana/provisioning";
    let (mut datasources, mut providers) = (Vec::new(), Vec::new());
    for (host, container, read_only) in mounts(grafana) {
        let kind = container.strip_prefix(&format!("{provisioning}/"));
        if kind.is_none() {
            continue;
        }
        assert!(read_only, "{host} is mounted writable");
        for entry in std::fs::read_dir(root().join(&host)).unwrap() {
            let relative = entry
                .unwrap()
                .path()
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let file = yaml_file(&relative);
            let list = |key: &str| match file.get(key) {
                Some(Yaml::Array(items)) => items.iter().map(merged).collect(),
                _ => Vec::new(),
            };
            match kind {
                Some("datasources") => datasources.extend(list("datasources")),
                Some("dashboards") => providers.extend(list("providers")),
                _ => {}
            }
        }
    }

    // One default Prometheus datasource, the compose deployment's.
    let prometheus: Vec<_> = datasources
        .iter()
        .filter(|d| d["type"].as_str() == Some("prometheus"))
        .collect();
    assert_eq!(prometheus.len(), 1, "{datasources:?}");
    let datasource = prometheus[0];
    assert_eq!(datasource["url"].as_str(), Some("http://prometheus:9090"));
    assert_eq!(datasource["isDefault"].as_bool(), Some(true));
    assert!(
        strings(services["prometheus"].get("ports"))
            .iter()
            .any(|p| p.ends_with(":9090")),
        "Prometheus listens on 9090"
    );
    let uid = datasource["uid"].as_str().unwrap();

    // The dashboard binds to it: each panel names the datasource variable, which picks the
    // default datasource of the provisioned type, or the provisioned uid itself.
    let text = std::fs::read_to_string(root().join("deploy/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let variables: Vec<&serde_json::Value> = dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "datasource" && v["query"] == "prometheus")
        .collect();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(!panels.is_empty());
    for panel in panels {
        let source = &panel["datasource"];
        assert_eq!(source["type"], "prometheus", "{}", panel["title"]);
        let named = source["uid"].as_str().unwrap_or_default();
        let bound = named == uid
            || variables
                .iter()
                .any(|v| named == format!("${{{}}}", v["name"].as_str().unwrap()));
        assert!(bound, "panel {} names datasource {named:?}", panel["title"]);
    }

    // A file provider whose folder holds the dashboard, mounted as it is.
    let folder = mounted_at(grafana, "./deploy/grafana-dashboard.json");
    let folder = folder.rsplit_once('/').unwrap().0;
    assert!(
        providers.iter().any(|p| {
            p["type"].as_str() == Some("file")
                && merged(&p["options"])["path"].as_str() == Some(folder)
        }),
        "no provider loads {folder}: {providers:?}"
    );
}
