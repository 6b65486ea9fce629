//! Settings are checked before anything connects. A value that cannot work (a URL that does not
//! parse, a wrong scheme, a number out of range, a missing secret) is a mistake to report, not an
//! outage to wait out: the binary exits at once with status 2 and one line naming the setting, as
//! flag and variable, and what is wrong. Only an unreachable broker or Redis is retried
//! (`connect.rs`).
//!
//! The value itself is never repeated: it may hold a password.

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// The exit status for a setting that cannot work, as clap and the BSD `EX_USAGE` family use for
/// a usage error; supervisors can tell it from a crash (1) and stop restarting.
pub const EXIT_BAD_SETTING: i32 = 2;

/// The binary's settings from its flags and environment; on a bad one, [`refuse`] with a line
/// naming it. `--help` and `--version` print and exit 0 as usual.
pub fn parse_or_exit<A: Parser>() -> A {
    match A::try_parse() {
        Ok(args) => args,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => refuse(&describe(&error, &A::command())),
    }
}

/// Stops the binary because of a bad setting: `message` as one line on stderr (one JSON object
/// when JSON logs were asked for), then exit status [`EXIT_BAD_SETTING`].
pub fn refuse(message: &str) -> ! {
    let message = message.replace('\n', " ");
    if json_logs_wanted(std::env::args(), std::env::var("WARREN_LOG_FORMAT").ok()) {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(exit_status = EXIT_BAD_SETTING, "{message}");
        });
    } else {
        let binary = std::env::args()
            .next()
            .and_then(|path| {
                std::path::Path::new(&path)
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "warren".into());
        eprintln!("{binary}: {message}");
    }
    std::process::exit(EXIT_BAD_SETTING)
}

/// Whether `--log-format json` (or its variable) was given. Read from the raw arguments because
/// it must work when the rest of them did not parse.
fn json_logs_wanted(args: impl Iterator<Item = String>, variable: Option<String>) -> bool {
    let mut from_flag = None;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "--log-format" {
            from_flag = args.peek().cloned();
        } else if let Some(value) = arg.strip_prefix("--log-format=") {
            from_flag = Some(value.to_owned());
        }
    }
    from_flag
        .or(variable)
        .is_some_and(|format| format == "json")
}

/// One line for a clap error: the setting as flag and variable, and what is wrong with it.
fn describe(error: &clap::Error, command: &clap::Command) -> String {
    let setting = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => Some(name_setting(arg, command)),
        _ => None,
    };
    match (error.kind(), setting) {
        (ErrorKind::ValueValidation, Some(setting)) => {
            let why = std::error::Error::source(error)
                .map_or_else(|| "not a valid value".to_owned(), ToString::to_string);
            format!("{setting}: {why}")
        }
        (ErrorKind::InvalidValue, Some(setting)) => match error.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) => {
                format!("{setting}: must be one of {}", valid.join(", "))
            }
            _ => format!("{setting}: not a valid value"),
        },
        // clap's own message lists the missing flags on lines of their own, which one line loses.
        (ErrorKind::MissingRequiredArgument, _) => match error.get(ContextKind::InvalidArg) {
            Some(ContextValue::Strings(missing)) => {
                let named: Vec<String> = missing
                    .iter()
                    .map(|arg| name_setting(arg, command))
                    .collect();
                format!("required and not given: {}", named.join(", "))
            }
            _ => first_line(error),
        },
        _ => first_line(error),
    }
}

/// `--amqp-url <AMQP_URL>` as `--amqp-url (WARREN_AMQP_URL)`, the two ways to give it.
fn name_setting(arg: &str, command: &clap::Command) -> String {
    let flag = arg.split_whitespace().next().unwrap_or(arg);
    let variable = flag.strip_prefix("--").and_then(|long| {
        command
            .get_arguments()
            .find(|candidate| candidate.get_long() == Some(long))
            .and_then(|found| found.get_env())
    });
    match variable {
        Some(variable) => format!("{flag} ({})", variable.to_string_lossy()),
        None => flag.to_owned(),
    }
}

/// clap's own message without its `error:` prefix and the usage lines after it.
fn first_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let line = rendered.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// An AMQP URL as the bus will read it; the error leaves the URL out.
pub(crate) fn amqp_url(text: &str) -> Result<String, String> {
    warren_bus::ConnectOptions::check_url(text)?;
    Ok(text.to_owned())
}

/// A durable queue type, as RabbitMQ names it.
pub(crate) fn queue_type(text: &str) -> Result<warren_bus::QueueType, String> {
    match text {
        "classic" => Ok(warren_bus::QueueType::Classic),
        "quorum" => Ok(warren_bus::QueueType::Quorum),
        _ => Err("must be classic or quorum".into()),
    }
}

/// A Redis URL as the Redis client will read it, or a Redis Cluster's seeds separated by commas
/// (each such a URL, all with one scheme: a cluster speaks TLS on every node or on none); the error
/// leaves the URLs out.
pub(crate) fn redis_url(text: &str) -> Result<String, String> {
    let urls = crate::redis_client::split_urls(text);
    if urls.is_empty() {
        return Err("names no Redis".into());
    }
    for (n, url) in urls.iter().enumerate() {
        let which = if urls.len() > 1 {
            format!("seed {}: ", n + 1)
        } else {
            String::new()
        };
        one_redis_url(url).map_err(|why| format!("{which}{why}"))?;
    }
    if urls.len() > 1 {
        if urls
            .iter()
            .any(|url| url.starts_with("redis+unix://") || url.starts_with("unix://"))
        {
            return Err("a Redis Cluster's seeds are redis:// or rediss:// addresses".into());
        }
        let tls = urls
            .iter()
            .filter(|url| url.starts_with("rediss://"))
            .count();
        if tls != 0 && tls != urls.len() {
            return Err("a Redis Cluster's seeds are all redis:// or all rediss://".into());
        }
    }
    Ok(text.to_owned())
}

/// A namespace for Redis keys: without braces, which would move every key's hash tag (the first
/// `{…}` of a key decides its Redis Cluster slot).
pub(crate) fn redis_namespace(text: &str) -> Result<String, String> {
    if text.contains(['{', '}']) {
        return Err(
            "must not contain { or }: they would change which keys share a Redis Cluster slot"
                .into(),
        );
    }
    Ok(text.to_owned())
}

fn one_redis_url(text: &str) -> Result<(), String> {
    if !["redis://", "rediss://", "redis+unix://", "unix://"]
        .iter()
        .any(|scheme| text.starts_with(scheme))
    {
        return Err("must start with redis://, rediss://, redis+unix:// or unix://".into());
    }
    redis::Client::open(text).map(drop).map_err(|error| {
        // Shown as `what - Kind`: the kind says nothing to an operator.
        let shown = error.to_string();
        let why = shown
            .rsplit_once(" - ")
            .map_or(shown.as_str(), |(why, _)| why);
        format!("not a Redis URL: {why}")
    })
}

/// A duration more than zero.
pub(crate) fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = crate::settings::parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(duration)
}

/// An http or https URL that names a host.
pub(crate) fn http_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("names no host".into());
    }
    Ok(text.to_owned())
}

/// A browser origin as the `Origin` header carries it (`https://game.example` or
/// `http://localhost:5173`: scheme and host, no path), or `*`. Anything else would never match a
/// request, and the browser's calls would fail with nothing in the logs to say why.
pub(crate) fn origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "*" {
        return Ok(text.to_owned());
    }
    let host = http_url(text)
        .map_err(|why| format!("{text:?} {why} (an origin is like https://game.example)"))?;
    let rest = host.split_once("://").map_or("", |(_, rest)| rest);
    if rest.contains('/') || !text.is_ascii() || text.chars().any(char::is_whitespace) {
        return Err(format!(
            "{text:?} is not an origin: scheme and host only, like https://game.example"
        ));
    }
    Ok(text.to_owned())
}

/// A finite number, zero or more.
pub(crate) fn non_negative(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{text:?} must be a finite number, zero or more"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::CommandFactory;

    #[derive(Debug, Parser)]
    struct Args {
        #[command(flatten)]
        backends: crate::Backends,
        #[command(flatten)]
        gateway: crate::GatewaySettings,
    }

    fn refusal(args: &[&str]) -> String {
        let all = std::iter::once("warren").chain(args.iter().copied());
        let error = Args::try_parse_from(all).unwrap_err();
        describe(&error, &Args::command())
    }

    #[test]
    fn a_malformed_url_names_flag_and_variable_without_the_password() {
        for bad in [
            "not-a-url",
            "http://guest:hunter2@rabbit:5672",
            "amqp://guest:hunter2@:99999",
        ] {
            let line = refusal(&["--amqp-url", bad]);
            assert!(line.starts_with("--amqp-url (WARREN_AMQP_URL): "), "{line}");
            assert!(!line.contains("hunter2"), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
        for bad in [
            "127.0.0.1:6379",
            "http://redis:6379",
            "redis://:hunter2@redis:notaport",
        ] {
            let line = refusal(&["--redis-url", bad]);
            assert!(
                line.starts_with("--redis-url (WARREN_REDIS_URL): "),
                "{line}"
            );
            assert!(!line.contains("hunter2"), "{line}");
        }
    }

    #[test]
    fn a_missing_setting_is_named_with_its_variable() {
        let line = refusal(&["--tls-cert", "cert.pem"]);
        assert_eq!(line, "required and not given: --tls-key (WARREN_TLS_KEY)");
    }

    #[test]
    fn each_node_of_a_cluster_is_checked() {
        let line = refusal(&[
            "--amqp-url",
            "amqp://w:hunter2@a:5672,http://w:hunter2@b:5672",
        ]);
        assert!(line.contains("node 2: must start with amqp://"), "{line}");
        assert!(!line.contains("hunter2"), "{line}");
        let line = refusal(&["--amqp-url", "amqp://a:pw@n1:5672,amqp://b:pw@n2:5672"]);
        assert!(line.contains("different users"), "{line}");
        let line = refusal(&["--amqp-url", " , "]);
        assert!(line.contains("names no broker"), "{line}");
    }

    #[test]
    fn good_urls_pass() {
        let all = [
            "warren",
            "--amqp-url",
            "amqps://warren:pw@rabbit.example:5671/games",
            "--redis-url",
            "redis://:pw@redis.example:6380/2",
        ];
        Args::try_parse_from(all).unwrap();
        Args::try_parse_from(["warren", "--amqp-url", "amqp://127.0.0.1"]).unwrap();
        // The nodes of a cluster.
        let nodes =
            "amqp://w:pw@10.0.0.1:5672/g,amqp://w:pw@10.0.0.2:5672/g, amqp://w:pw@10.0.0.3/g";
        Args::try_parse_from(["warren", "--amqp-url", nodes]).unwrap();
        // TLS, and a Redis Cluster's seeds.
        Args::try_parse_from(["warren", "--redis-url", "rediss://:pw@redis.example:6380"]).unwrap();
        let seeds = "redis://10.0.0.1:7001, redis://10.0.0.2:7001,redis://10.0.0.3:7001";
        Args::try_parse_from(["warren", "--redis-url", seeds]).unwrap();
    }

    #[test]
    fn each_seed_of_a_redis_cluster_is_checked() {
        let line = refusal(&["--redis-url", "redis://:hunter2@a:7001,http://b:7001"]);
        assert!(line.contains("seed 2: must start with redis://"), "{line}");
        assert!(!line.contains("hunter2"), "{line}");
        let line = refusal(&["--redis-url", "redis://a:7001,rediss://b:7001"]);
        assert!(line.contains("all redis:// or all rediss://"), "{line}");
        let line = refusal(&["--redis-url", "redis://a:7001,unix:///tmp/redis.sock"]);
        assert!(line.contains("redis:// or rediss:// addresses"), "{line}");
        let line = refusal(&["--redis-url", ","]);
        assert!(line.contains("names no Redis"), "{line}");
        let line = refusal(&["--redis-namespace", "game{1}:"]);
        assert!(line.contains("must not contain {"), "{line}");
    }

    #[test]
    fn out_of_range_and_unknown_values_say_what_is_allowed() {
        let line = refusal(&["--rate-limit", "0"]);
        assert!(
            line.starts_with("--rate-limit (WARREN_RATE_LIMIT): "),
            "{line}"
        );
        let line = refusal(&["--log-format", "xml"]);
        assert_eq!(
            line,
            "--log-format (WARREN_LOG_FORMAT): must be one of text, json"
        );
        let line = refusal(&["--ping-interval", "0s"]);
        assert_eq!(
            line,
            "--ping-interval (WARREN_PING_INTERVAL): must be more than zero"
        );
        let line = refusal(&["--no-such-flag"]);
        assert!(line.contains("--no-such-flag"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn cors_origins_are_origins() {
        let all = [
            "warren",
            "--cors-origins",
            "https://a.example,http://localhost:5173,*",
        ];
        let parsed = Args::try_parse_from(all).unwrap();
        assert_eq!(parsed.gateway.cors_origins.len(), 3);
        for bad in [
            "a.example",
            "https://a.example/",
            "https://a.example/lobby",
            "ftp://a",
        ] {
            let line = refusal(&["--cors-origins", bad]);
            assert!(
                line.starts_with("--cors-origins (WARREN_CORS_ORIGINS): "),
                "{line}"
            );
        }
    }

    #[test]
    fn json_refusals_follow_the_log_format_however_given() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let wanted = |list: &[&str], variable: Option<&str>| {
            json_logs_wanted(args(list).into_iter(), variable.map(str::to_owned))
        };
        assert!(wanted(&["warren", "--log-format", "json"], None));
        assert!(wanted(&["warren", "--log-format=json"], Some("text")));
        assert!(wanted(&["warren"], Some("json")));
        assert!(!wanted(&["warren", "--log-format", "text"], Some("json")));
        assert!(!wanted(&["warren"], None));
    }
}
