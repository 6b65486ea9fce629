//! The settings' unit tests, in a file of their own so that the settings read as the table they
//! are: names, defaults and parsers first, and what is checked about them here.

use super::*;
use clap::Parser;

#[test]
fn passwords_are_left_out_of_logged_urls() {
    assert_eq!(
        redacted("amqp://guest:secret@rabbitmq:5672/%2f"),
        "amqp://guest:***@rabbitmq:5672/%2f"
    );
    assert_eq!(
        redacted("redis://:pw@redis:6379"),
        "redis://:***@redis:6379"
    );
    assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    assert_eq!(
        redacted("amqp://w:s1@n1:5681/%2f, amqp://w:s2@n2:5682/%2f"),
        "amqp://w:***@n1:5681/%2f,amqp://w:***@n2:5682/%2f"
    );
}

#[test]
fn durations_read_as_the_design_writes_them() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
    for bad in ["", "30", "s", "1.5s", "-1s", "10 parsecs", "5y"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn durations_saturate_where_clocks_can_take_them() {
    for huge in ["18446744073709551615d", "99999999999h", "3651d"] {
        assert_eq!(parse_duration(huge), Ok(LONGEST_DURATION), "{huge}");
    }
    assert_eq!(
        parse_duration("3650d"),
        Ok(Duration::from_secs(3650 * 86_400))
    );
    // What the services do with them must not overflow.
    let _ = std::time::Instant::now() + LONGEST_DURATION;
    let _ = tokio::time::Instant::now() + LONGEST_DURATION;
    let ms = u64::try_from(LONGEST_DURATION.as_millis()).unwrap();
    assert!(
        warren_contracts::event::now_millis()
            .checked_add(ms)
            .is_some()
    );
}

#[derive(Debug, Parser)]
struct Gateway {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    gateway: GatewaySettings,
    #[command(flatten)]
    auth: AuthSettings,
    #[command(flatten)]
    sessions: SessionsSettings,
    #[command(flatten)]
    private_rooms: PrivateRoomsSettings,
    #[command(flatten)]
    matchmaker: MatchmakerSettings,
}

#[test]
fn defaults_run_on_a_laptop() {
    let parsed = Gateway::try_parse_from(["warren"]).unwrap();
    assert_eq!(parsed.gateway.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(parsed.gateway.max_frame_bytes, 65536);
    assert_eq!(parsed.gateway.rate_limit, 100);
    assert_eq!(parsed.gateway.ping_interval, Duration::from_secs(15));
    assert_eq!(parsed.gateway.max_in_flight, 32);
    assert_eq!(parsed.gateway.send_queue, 256);
    assert!(parsed.gateway.cors_origins.is_empty());
    assert_eq!(parsed.gateway.web, Switch::On);
    assert_eq!(parsed.auth.jwt.access_token_ttl, Duration::from_secs(900));
    assert_eq!(parsed.auth.hash_concurrency, None, "the core count");
    assert_eq!(parsed.auth.hash_queue_timeout, Duration::from_secs(2));
    assert_eq!(parsed.auth.auth_rate_per_address, 60);
    assert_eq!(parsed.sessions.grace_period, Duration::from_secs(30));
    assert_eq!(
        parsed.private_rooms.private_room_ttl,
        Duration::from_secs(600)
    );
    assert_eq!(parsed.private_rooms.code_attempts, 10);
    assert_eq!(parsed.matchmaker.ticket_ttl, Duration::from_secs(120));
    assert_eq!(
        (
            parsed.matchmaker.rating_window,
            parsed.matchmaker.rating_window_growth,
            parsed.matchmaker.rating_window_max
        ),
        (50.0, 10.0, 400.0)
    );
    assert_eq!(parsed.backends.log_format, LogFormat::Text);
    assert!(parsed.backends.amqp_url.is_none());
    assert!(
        parsed.backends.amqp_gateway_user.is_none(),
        "the process's own broker user"
    );
    assert!(
        parsed.backends.otlp_endpoint.is_none(),
        "trace export is off"
    );
}

#[test]
fn the_otlp_endpoint_is_an_http_url() {
    for good in ["http://127.0.0.1:4318", "https://otel.example.com/ingest"] {
        let parsed = Gateway::try_parse_from(["warren", "--otlp-endpoint", good]).unwrap();
        assert_eq!(parsed.backends.otlp_endpoint.as_deref(), Some(good));
    }
    for bad in [
        "127.0.0.1:4318",
        "grpc://collector:4317",
        "http://",
        "http:///v1",
    ] {
        let error = Gateway::try_parse_from(["warren", "--otlp-endpoint", bad]).unwrap_err();
        assert!(
            error.to_string().contains("--otlp-endpoint"),
            "{bad}: {error}"
        );
    }
}

#[test]
fn a_bad_value_names_the_setting() {
    let error = Gateway::try_parse_from(["warren", "--ping-interval", "soon"]).unwrap_err();
    assert!(error.to_string().contains("--ping-interval"), "{error}");
    let error = Gateway::try_parse_from(["warren", "--rate-limit", "0"]).unwrap_err();
    assert!(error.to_string().contains("--rate-limit"), "{error}");
    let error = Gateway::try_parse_from(["warren", "--rating-window=-5"]).unwrap_err();
    assert!(error.to_string().contains("--rating-window"), "{error}");
}

#[test]
fn the_jwt_secret_is_generated_only_when_embedded() {
    let embedded = Gateway::try_parse_from(["warren"]).unwrap();
    assert_eq!(
        jwt_secret(&embedded.auth.jwt, &embedded.backends)
            .unwrap()
            .len(),
        32
    );
    let distributed =
        Gateway::try_parse_from(["warren", "--amqp-url", "amqp://localhost"]).unwrap();
    let error = jwt_secret(&distributed.auth.jwt, &distributed.backends).unwrap_err();
    assert!(error.contains("--jwt-secret"), "{error}");
    let short = Gateway::try_parse_from(["warren", "--jwt-secret", "short"]).unwrap();
    assert!(jwt_secret(&short.auth.jwt, &short.backends).is_err());
    // 16 bytes passed before: too short for HS256.
    let sixteen = "0123456789abcdef";
    let short = Gateway::try_parse_from(["warren", "--jwt-secret", sixteen]).unwrap();
    let error = jwt_secret(&short.auth.jwt, &short.backends).unwrap_err();
    assert!(error.contains("at least 32 bytes"), "{error}");
    let enough = "0123456789abcdef0123456789abcdef";
    let given = Gateway::try_parse_from(["warren", "--jwt-secret", enough]).unwrap();
    assert_eq!(
        jwt_secret(&given.auth.jwt, &given.backends).unwrap(),
        enough.as_bytes()
    );
}

#[test]
fn every_group_has_defaults() {
    let parsed = Gateway::try_parse_from(["warren"]).unwrap();
    assert_eq!(
        defaults::<GatewaySettings>().ping_interval,
        parsed.gateway.ping_interval
    );
    assert_eq!(
        defaults::<AuthSettings>().refresh_token_ttl,
        parsed.auth.refresh_token_ttl
    );
    assert_eq!(
        defaults::<SessionsSettings>().grace_period,
        Duration::from_secs(30)
    );
    assert_eq!(defaults::<PrivateRoomsSettings>().code_attempts, 10);
    assert_eq!(defaults::<MatchmakerSettings>().rating_window_max, 400.0);
    let _: (AccountsSettings, RoomsSettings, crate::EdgeSettings) =
        (defaults(), defaults(), defaults());
}

#[test]
fn a_login_outlives_its_access_tokens() {
    let parsed = Gateway::try_parse_from(["warren"]).unwrap();
    parsed.auth.check().unwrap();
    let parsed = Gateway::try_parse_from([
        "warren",
        "--access-token-ttl",
        "2h",
        "--refresh-token-ttl",
        "1h",
    ])
    .unwrap();
    let error = parsed.auth.check().unwrap_err();
    assert!(error.contains("--refresh-token-ttl"), "{error}");
}

#[test]
fn frames_are_bounded_both_ways() {
    for bad in ["255", "16777217"] {
        let error = Gateway::try_parse_from(["warren", "--max-frame-bytes", bad]).unwrap_err();
        assert!(
            error.to_string().contains("--max-frame-bytes"),
            "{bad}: {error}"
        );
    }
    let parsed = Gateway::try_parse_from(["warren", "--max-frame-bytes", "16777216"]).unwrap();
    assert_eq!(parsed.gateway.max_frame_bytes, 16 * 1024 * 1024);
}

#[test]
fn the_web_page_is_on_or_off() {
    let parsed = Gateway::try_parse_from(["warren", "--web", "off"]).unwrap();
    assert!(!parsed.gateway.web.is_on());
    let parsed = Gateway::try_parse_from(["warren", "--web", "on"]).unwrap();
    assert!(parsed.gateway.web.is_on());
    for bad in ["", "yes", "false", "0"] {
        assert!(
            Gateway::try_parse_from(["warren", "--web", bad]).is_err(),
            "{bad:?} was accepted"
        );
    }
}

#[test]
fn cors_origins_are_comma_separated() {
    let parsed = Gateway::try_parse_from([
        "warren",
        "--cors-origins",
        "https://a.example,https://b.example",
    ])
    .unwrap();
    assert_eq!(
        parsed.gateway.cors_origins,
        vec!["https://a.example", "https://b.example"]
    );
}
