//! The deployment files as the tests read them: YAML with merge keys applied, and the compose
//! file's services, commands, settings, mounts and health checks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use yaml_rust2::{Yaml, YamlLoader};

/// A mapping with YAML merge keys (`<<: *anchor`) applied, the keys its own win.
pub fn merged(node: &Yaml) -> BTreeMap<String, Yaml> {
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

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn yaml_file(relative: &str) -> BTreeMap<String, Yaml> {
    let text = std::fs::read_to_string(root().join(relative)).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"));
    merged(&docs[0])
}

/// `docker-compose.yml`'s services, merge keys applied.
pub fn compose() -> BTreeMap<String, BTreeMap<String, Yaml>> {
    let services = yaml_file("docker-compose.yml")
        .remove("services")
        .expect("a services section");
    merged(&services)
        .into_iter()
        .map(|(name, service)| (name, merged(&service)))
        .collect()
}

/// The Warren binary a service runs, if it runs one.
pub fn program(service: &BTreeMap<String, Yaml>) -> Option<String> {
    strings(service.get("command"))
        .into_iter()
        .next()
        .filter(|p| p.starts_with("warren"))
}

pub fn environment(service: &BTreeMap<String, Yaml>) -> BTreeMap<String, String> {
    service
        .get("environment")
        .map(merged)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
        .collect()
}

pub fn strings(node: Option<&Yaml>) -> Vec<String> {
    match node {
        Some(Yaml::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(Yaml::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// A service's address on a network it names, e.g. `edge`.
pub fn address_on(service: &BTreeMap<String, Yaml>, network: &str) -> String {
    let networks = service.get("networks").map(merged).unwrap_or_default();
    let on = networks.get(network).map(merged).unwrap_or_default();
    on.get("ipv4_address")
        .and_then(Yaml::as_str)
        .unwrap_or_else(|| panic!("no fixed address on {network}: {networks:?}"))
        .to_owned()
}

/// `./host/path:/container/path:ro` as (host, container, read-only).
pub fn mounts(service: &BTreeMap<String, Yaml>) -> Vec<(String, String, bool)> {
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
pub fn mounted_at(service: &BTreeMap<String, Yaml>, host: &str) -> String {
    let all = mounts(service);
    let (_, container, read_only) = all
        .iter()
        .find(|(h, _, _)| h == host)
        .unwrap_or_else(|| panic!("{host} is not mounted: {all:?}"));
    assert!(read_only, "{host} is mounted writable");
    container.clone()
}

pub fn healthcheck(service: &BTreeMap<String, Yaml>) -> Vec<String> {
    strings(
        service
            .get("healthcheck")
            .and_then(|h| merged(h).remove("test"))
            .as_ref(),
    )
}
