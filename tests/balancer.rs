//! The balancer of the Docker Compose deployment, run for real: Debian's nginx with
//! `deploy/nginx/nginx.conf` as it is committed, only its listen port and its upstream servers'
//! addresses replaced, in front of two `warren-gateway` processes sharing the services (run in
//! this process) over one test's RabbitMQ vhost and Redis namespace.
//!
//! Which gateway holds a socket is read from each gateway process's own `/metrics`
//! (`warren_ws_connections`) and, once the socket is closed, from the `upstream=` field of
//! nginx's access log. A socket opens through the balancer and works; new sockets spread over both
//! gateways; a client whose gateway drains (SIGTERM) reconnects through the balancer to the other
//! one and resumes its events without a gap; a gateway that is stopped gets no new sockets; and
//! each client is limited by its own address, which the balancer passes in X-Forwarded-For.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes::{Process, binary, free_port};
use common::{Mode, SECRET, TestSystem, Vhost, Ws, start_configured, unique};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;
use tokio::time::Instant;

const NGINX: &str = "/usr/sbin/nginx";
/// How long a condition is polled for before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// A `warren-gateway` process: where clients reach it, where its `/metrics` is.
struct Gateway {
    process: Option<Process>,
    address: SocketAddr,
    admin: String,
}

impl Gateway {
    async fn start(env: &[(&'static str, String)], log: &Path) -> Self {
        let (process, admin) = Process::start_warren(&binary("warren-gateway"), env, log).await;
        let text = std::fs::read_to_string(log).unwrap();
        let address = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["message"] == "gateway listening")
            .and_then(|line| line["address"].as_str().map(str::to_owned))
            .expect("the gateway logs where it listens");
        Self {
            process: Some(process),
            address: address.parse().unwrap(),
            admin,
        }
    }

    /// Its open WebSockets, as it reports them.
    async fn sockets(&self, http: &reqwest::Client) -> u64 {
        let text = common::scrape(http, &self.admin).await;
        common::sample(&text, "warren_ws_connections")
            .unwrap_or_else(|| panic!("no warren_ws_connections in:\n{text}")) as u64
    }

    /// SIGTERM, as `docker compose stop` sends it: the gateway stops accepting, closes its
    /// sockets with 1001 (reconnect elsewhere) and exits.
    fn terminate(&self) {
        let pid = self.process.as_ref().unwrap().child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits for the process to exit after [`Gateway::terminate`]; a graceful stop exits 0.
    async fn exited(&mut self) {
        let mut process = self.process.take().unwrap();
        let give_up = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = process.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < give_up, "the gateway did not exit");
            tokio::time::sleep(POLL).await;
        };
        assert!(status.success(), "the gateway exited with {status}");
        std::mem::forget(process);
    }
}

/// nginx running the committed configuration, in a folder of its own.
struct Balancer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Balancer {
    fn start(dir: &Path, gateways: &[SocketAddr]) -> Self {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} is missing: install nginx (Debian: apt-get install nginx-light)"
        );
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/nginx.conf");
        let port = free_port();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            with_addresses(&std::fs::read_to_string(committed).unwrap(), port, gateways),
        )
        .unwrap();
        // As the nginx image runs it (`daemon off`), with its pid file here; its access log
        // (/dev/stdout) and error log (stderr) go to files here.
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir)
            .args(["-e", "stderr", "-c"])
            .arg(&conf)
            .arg("-g")
            .arg(format!(
                "daemon off; pid {};",
                dir.join("nginx.pid").display()
            ))
            .stdout(std::fs::File::create(dir.join("access.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("error.log")).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    async fn ready(&mut self) {
        let give_up = Instant::now() + DEADLINE;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nginx exited ({status}):\n{}", self.error_log());
            }
            assert!(Instant::now() < give_up, "nginx never listened");
            tokio::time::sleep(POLL).await;
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// The gateways that served each WebSocket that has closed, in order: the `upstream` field
    /// of the access log's `/ws` lines (`a, b` when the first refused and the second served).
    fn sockets_served(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("\"GET /ws\""))
            .map(|line| {
                assert!(line.contains("\" 101 "), "not upgraded: {line}");
                let upstream = line.split("upstream=").nth(1).unwrap();
                upstream.split(" seconds=").next().unwrap().to_owned()
            })
            .collect()
    }

    /// Polls the access log until it has `count` sockets.
    async fn served(&self, count: usize) -> Vec<String> {
        let give_up = Instant::now() + DEADLINE;
        loop {
            let served = self.sockets_served();
            if served.len() >= count {
                assert_eq!(served.len(), count, "{served:?}");
                return served;
            }
            assert!(Instant::now() < give_up, "access log: {served:?}");
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Balancer {
    /// SIGTERM, so that the master stops its workers: killed outright, it would leave them
    /// serving the port.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let give_up = std::time::Instant::now() + DEADLINE;
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < give_up {
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The committed nginx.conf with only its listen port and upstream servers' addresses replaced.
fn with_addresses(committed: &str, port: u16, gateways: &[SocketAddr]) -> String {
    let (mut out, mut upstream, mut servers, mut listens) = (String::new(), false, 0, 0);
    for line in committed.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut line = line.to_owned();
        match words.as_slice() {
            ["upstream", ..] => upstream = true,
            ["}", ..] => upstream = false,
            ["server", address, ..] if upstream => {
                let gateway = gateways
                    .get(servers)
                    .expect("more upstream servers than gateways");
                line = line.replacen(address, &gateway.to_string(), 1);
                servers += 1;
            }
            ["listen", _] => {
                line = format!("{indent}listen 127.0.0.1:{port};");
                listens += 1;
            }
            _ => {}
        }
        out.push_str(&line);
        out.push('\n');
    }
    assert_eq!(servers, gateways.len(), "one upstream server per gateway");
    assert_eq!(listens, 1, "one listen directive");
    out
}

/// The services (in this process, its own gateway unused), two gateway processes, and nginx in
/// front of them, over one vhost and Redis namespace; their files in a folder of their own.
struct Deployment {
    balancer: Balancer,
    gateways: Vec<Gateway>,
    /// The balancer as a client sees it: registers players and opens their sockets through it.
    front: TestSystem,
    services: Option<TestSystem>,
    _vhost: Vhost,
    /// Last: removed once nginx and the gateways are gone.
    _folder: Folder,
}

/// A folder removed when dropped.
struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Deployment {
    async fn start(extra: &[(&'static str, String)]) -> Self {
        let vhost = Vhost::create();
        let mode = vhost.mode();
        let Mode::Distributed { namespace, .. } = &mode else {
            unreachable!()
        };
        let mut env = vec![
            ("WARREN_AMQP_URL", vhost.url()),
            ("WARREN_REDIS_URL", common::redis_url()),
            ("WARREN_REDIS_NAMESPACE", namespace.clone()),
            (
                "WARREN_JWT_SECRET",
                String::from_utf8(SECRET.to_vec()).unwrap(),
            ),
            // nginx reaches the gateways from 127.0.0.1: the one proxy they believe.
            ("WARREN_TRUSTED_PROXIES", "127.0.0.1".into()),
            ("WARREN_CONNECT_RATE_PER_ADDRESS", "1000000".into()),
        ];
        for (key, value) in extra {
            env.retain(|(k, _)| k != key);
            env.push((key, value.clone()));
        }
        let services = start_configured(mode, |_| {}).await;
        let dir = std::env::temp_dir().join(unique("balancer"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut gateways = Vec::new();
        for n in 1..=2 {
            gateways.push(Gateway::start(&env, &dir.join(format!("gateway-{n}.log"))).await);
        }
        let addresses: Vec<SocketAddr> = gateways.iter().map(|g| g.address).collect();
        let mut balancer = Balancer::start(&dir, &addresses);
        balancer.ready().await;
        let front = TestSystem {
            base: format!("http://127.0.0.1:{}", balancer.port),
            admin_base: String::new(),
            ws_base: format!("ws://127.0.0.1:{}", balancer.port),
            shutdown: tokio_util::sync::CancellationToken::new(),
            system: None,
            mode: Mode::Embedded,
            http: reqwest::Client::new(),
        };
        Self {
            balancer,
            gateways,
            front,
            services: Some(services),
            _vhost: vhost,
            _folder: Folder(dir),
        }
    }

    /// Each gateway's open sockets, polled until `wanted` holds of them.
    async fn sockets_until(&self, wanted: impl Fn(&[u64]) -> bool) -> Vec<u64> {
        let give_up = Instant::now() + DEADLINE;
        loop {
            let mut counts = Vec::new();
            for gateway in &self.gateways {
                let count = if gateway.process.is_some() {
                    gateway.sockets(&self.front.http).await
                } else {
                    0
                };
                counts.push(count);
            }
            if wanted(&counts) {
                return counts;
            }
            assert!(Instant::now() < give_up, "sockets per gateway: {counts:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// A socket through the balancer that has answered a call.
    async fn connected(&self, token: &str) -> Ws {
        let mut ws = self.front.connect(token).await;
        ws.call("accounts.me", json!({})).await;
        ws
    }

    async fn stop(mut self) {
        drop(self.balancer);
        for gateway in &mut self.gateways {
            if gateway.process.is_some() {
                gateway.terminate();
                gateway.exited().await;
            }
        }
        self.services.take().unwrap().stop().await;
    }
}

fn seq(event: &Value) -> u64 {
    event["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {event}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_through_the_balancer_work_and_spread_over_both_gateways() {
    const SOCKETS: usize = 6;
    let deployment = Deployment::start(&[]).await;
    // HTTP goes through it too: register and log in.
    let (ada, bob) = (
        deployment.front.player("ada").await,
        deployment.front.player("bob").await,
    );
    let mut sockets = Vec::new();
    for n in 0..SOCKETS {
        let player = if n % 2 == 0 { &ada } else { &bob };
        let mut ws = deployment.connected(&player.access_token).await;
        let me = ws.call("accounts.me", json!({})).await;
        assert_eq!(me["user_id"], player.user_id.as_str(), "{me}");
        sockets.push(ws);
        // Each socket is open before the next: least_conn gives the next to the gateway
        // holding fewer, so they alternate.
        let open = n as u64 + 1;
        let counts = deployment
            .sockets_until(|c| c.iter().sum::<u64>() == open)
            .await;
        assert!(
            counts[0].abs_diff(counts[1]) <= 1,
            "after {open}: {counts:?}"
        );
    }
    let counts = deployment
        .sockets_until(|c| c.iter().sum::<u64>() == SOCKETS as u64)
        .await;
    assert_eq!(counts, [3, 3], "six sockets over two gateways");

    // Events come through the balancer too: each of Bob's sockets gets his invitation.
    let room = sockets[0]
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 4}),
        )
        .await;
    let room_id = room["room_id"].as_str().unwrap();
    sockets[0]
        .call(
            "private_rooms.invite",
            json!({"room_id": room_id, "user_id": bob.user_id}),
        )
        .await;
    for ws in sockets.iter_mut().skip(1).step_by(2) {
        let invited = ws.event("private_room.invited").await;
        assert_eq!(invited["data"]["room_id"], room_id, "{invited}");
    }

    drop(sockets);
    deployment.sockets_until(|c| c == [0, 0]).await;
    // nginx's own account: each socket was upgraded and served by one gateway, three each.
    let served = deployment.balancer.served(SOCKETS).await;
    for gateway in &deployment.gateways {
        let here = served
            .iter()
            .filter(|s| **s == gateway.address.to_string())
            .count();
        assert_eq!(here, 3, "{} served {here}: {served:?}", gateway.address);
    }
    deployment.stop().await;
}

/// Bob's gateway gets SIGTERM: his socket is closed with 1001, and his reconnect through the
/// balancer lands on the other gateway (the balancer tries the stopped one, is refused, and
/// goes on), where he resumes what Ada sent meanwhile, then gets live events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_a_draining_gateway_reconnects_through_the_balancer_to_the_other_and_resumes() {
    let mut deployment = Deployment::start(&[]).await;
    let (ada, bob) = (
        deployment.front.player("ada").await,
        deployment.front.player("bob").await,
    );
    let mut ada_ws = deployment.connected(&ada.access_token).await;
    let with_ada = deployment
        .sockets_until(|c| c.iter().sum::<u64>() == 1)
        .await;
    let mut bob_ws = deployment.connected(&bob.access_token).await;
    let with_bob = deployment
        .sockets_until(|c| c.iter().sum::<u64>() == 2)
        .await;
    let ada_on = with_ada.iter().position(|&c| c == 1).unwrap();
    let bob_on = (0..2).find(|&g| with_bob[g] > with_ada[g]).unwrap();
    assert_ne!(
        ada_on, bob_on,
        "the second socket goes to the idle gateway: {with_bob:?}"
    );

    let room = ada_ws
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 4}),
        )
        .await;
    let room_id = room["room_id"].as_str().unwrap().to_owned();
    let invite = json!({"room_id": room_id, "user_id": bob.user_id});
    ada_ws.call("private_rooms.invite", invite.clone()).await;
    let seen = seq(&bob_ws.event("private_room.invited").await);

    deployment.gateways[bob_on].terminate();
    assert_eq!(
        bob_ws.closed(DEADLINE).await,
        1001,
        "told to reconnect elsewhere"
    );
    deployment.gateways[bob_on].exited().await;
    for _ in 0..2 {
        ada_ws.call("private_rooms.invite", invite.clone()).await;
    }

    let mut bob_ws = deployment.front.connect(&bob.access_token).await;
    let resumed = bob_ws
        .call("events.resume", json!({"after_seq": seen}))
        .await;
    let seqs: Vec<u64> = resumed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(seq)
        .collect();
    assert_eq!(seqs, [seen + 1, seen + 2], "{resumed}");
    assert!(bob_ws.events.is_empty(), "nothing came twice live");
    let counts = deployment
        .sockets_until(|c| c.iter().sum::<u64>() == 2)
        .await;
    assert_eq!(counts[ada_on], 2, "Bob is back beside Ada: {counts:?}");
    ada_ws.call("private_rooms.invite", invite.clone()).await;
    let live = seq(&bob_ws.event("private_room.invited").await);
    assert_eq!(live, seen + 3, "live events go on from there");

    drop(bob_ws);
    drop(ada_ws);
    deployment.sockets_until(|c| c[ada_on] == 0).await;
    let mut served = deployment.balancer.served(3).await;
    served.sort();
    let (stopped, kept) = (
        deployment.gateways[bob_on].address.to_string(),
        deployment.gateways[ada_on].address.to_string(),
    );
    // Bob's first socket; his reconnect, tried on the stopped gateway first (it held fewer
    // sockets), refused there and served by the other; Ada's.
    let mut expected = vec![stopped.clone(), format!("{stopped}, {kept}"), kept];
    expected.sort();
    assert_eq!(served, expected);
    deployment.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_one_gateway_is_stopped_new_sockets_go_to_the_other() {
    const SOCKETS: usize = 4;
    let mut deployment = Deployment::start(&[]).await;
    deployment.gateways[0].terminate();
    deployment.gateways[0].exited().await;
    // Requests and sockets keep working through the balancer.
    let ada = deployment.front.player("ada").await;
    let mut sockets = Vec::new();
    for _ in 0..SOCKETS {
        sockets.push(deployment.connected(&ada.access_token).await);
    }
    let counts = deployment
        .sockets_until(|c| c.iter().sum::<u64>() == SOCKETS as u64)
        .await;
    assert_eq!(counts, [0, SOCKETS as u64]);
    drop(sockets);
    let served = deployment.balancer.served(SOCKETS).await;
    let kept = deployment.gateways[1].address.to_string();
    for upstream in &served {
        assert!(upstream.ends_with(&kept), "{served:?}");
    }
    deployment.stop().await;
}

/// An upgrade from `source` through the balancer, without a token: 401 once past the gateway's
/// per-address limit of upgrades, 429 when over it.
async fn upgrade_from(source: [u8; 4], base: &str, forwarded_for: Option<&str>) -> u16 {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(source))
        .build()
        .unwrap();
    let mut request = client
        .get(format!("{base}/ws"))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_behind_the_balancer_is_limited_by_its_own_address() {
    const RATE: u32 = 2;
    let deployment =
        Deployment::start(&[("WARREN_CONNECT_RATE_PER_ADDRESS", RATE.to_string())]).await;
    let base = deployment.front.base.clone();
    // Two gateways, each counting on its own: at most 2 × RATE upgrades pass.
    let mut refused_after = None;
    for attempt in 0..=2 * RATE {
        match upgrade_from([127, 0, 0, 2], &base, None).await {
            401 => {}
            429 => {
                refused_after = Some(attempt);
                break;
            }
            other => panic!("upgrade: {other}"),
        }
    }
    let refused_after = refused_after.expect("127.0.0.2 was never limited");
    assert!(refused_after >= RATE, "limited after {refused_after}");
    // Naming another address does not help it: the balancer appends the one it saw.
    let forged = upgrade_from([127, 0, 0, 2], &base, Some("203.0.113.9")).await;
    // (The other gateway may still have room for it; then it is refused there next.)
    let forged = if forged == 401 {
        upgrade_from([127, 0, 0, 2], &base, Some("203.0.113.9")).await
    } else {
        forged
    };
    assert_eq!(forged, 429, "a forged X-Forwarded-For passed");
    // Another client behind the same balancer has its own allowance.
    assert_eq!(upgrade_from([127, 0, 0, 3], &base, None).await, 401);
    deployment.stop().await;
}
