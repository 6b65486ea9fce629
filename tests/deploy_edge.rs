//! The compose deployment's edge and monitoring, checked without a Docker engine. Clients get in
//! only through the balancer, whose nginx.conf passes WebSocket upgrades to exactly the gateways'
//! addresses, retries the other gateway, outwaits the gateways' pings, and is the one proxy the
//! gateways trust. Prometheus (in the `monitoring` profile, with Grafana) scrapes every Warren
//! container; Grafana is provisioned with a Prometheus datasource the dashboard binds to and with
//! the dashboard file. (`scripts/check-compose` runs `nginx -t` on nginx.conf, and
//! `tests/balancer.rs` runs it in front of two gateways.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::compose::*;
use common::processes::binary;
use yaml_rust2::Yaml;

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
