//! The soak's own backends, so that it never disturbs anything else on the machine: a RabbitMQ
//! vhost of its own, and a `redis-server` of its own on a free port with an fsynced append-only
//! file (as deployed), which the fault injector stops and starts. Both go when this is dropped.
//!
//! On the local cluster (`scripts/cluster up`), the vhost is made on the RabbitMQ cluster, the
//! systems are given all its nodes and the Redis Cluster's seeds (keys under a namespace of their
//! own), and the faults are nodes lost: a RabbitMQ node killed and started again, a Redis master
//! killed until its replica has taken over.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `program` with `args`; its stdout, or an error with its stderr.
fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("{program} must be installed"))?;
    if !output.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    run("rabbitmqctl", args).map(drop)
}

/// The local cluster's script, and its nodes by the names `scripts/cluster` gives them: the
/// soak's vhost is managed through whichever answers.
const CLUSTER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/cluster");
const CLUSTER_NODES: [&str; 3] = [
    "warren-c1@localhost",
    "warren-c2@localhost",
    "warren-c3@localhost",
];

/// The Redis Cluster's nodes, masters and replicas, as `scripts/cluster` starts them.
const CLUSTER_REDIS_PORTS: [u16; 6] = [7001, 7002, 7003, 7004, 7005, 7006];

/// `scripts/cluster` with `args`; its stdout.
fn cluster_script(args: &[&str]) -> anyhow::Result<String> {
    run(CLUSTER_SCRIPT, args)
}

/// rabbitmqctl on whichever node of the cluster answers (`cluster` false: the ordinary broker).
fn rabbitmqctl_on(cluster: bool, args: &[&str]) -> anyhow::Result<()> {
    if !cluster {
        return rabbitmqctl(args);
    }
    let mut last = None;
    for node in CLUSTER_NODES {
        let with_node: Vec<&str> = ["-n", node].iter().chain(args).copied().collect();
        match rabbitmqctl(&with_node) {
            Ok(()) => return Ok(()),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no cluster node")))
}

pub struct Backends {
    pub vhost: String,
    /// The cluster's nodes as `--amqp-url` takes them (with `/%2f` for the vhost), when on it.
    cluster_nodes: Option<String>,
    /// The Redis Cluster's seeds as `--redis-url` takes them, when on it.
    cluster_redis: Option<String>,
    /// The next RabbitMQ node to kill, and the next Redis master (by its rank) to fail over.
    next_node: usize,
    next_master: usize,
    pub redis_port: u16,
    redis_dir: PathBuf,
    redis: Option<Child>,
}

impl Backends {
    /// With `cluster`, on the local cluster, which must be up.
    pub fn start(cluster: bool) -> anyhow::Result<Self> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let vhost = format!("soak-{}", &tag[..10]);
        let (cluster_nodes, cluster_redis) = if cluster {
            cluster_script(&["status"]).context("the cluster must be up: scripts/cluster up")?;
            let urls = cluster_script(&["urls"])?;
            let setting = |name: &str| {
                urls.lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::to_owned)
                    .with_context(|| format!("scripts/cluster urls names {name}"))
            };
            (
                Some(setting("WARREN_AMQP_URL=")?),
                Some(setting("WARREN_REDIS_URL=")?),
            )
        } else {
            (None, None)
        };
        rabbitmqctl_on(cluster, &["add_vhost", &vhost])?;
        rabbitmqctl_on(
            cluster,
            &["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"],
        )?;
        let redis_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let redis_dir = std::env::temp_dir().join(format!("warren-soak-{}", &tag[..10]));
        std::fs::create_dir_all(&redis_dir)?;
        let mut backends = Self {
            vhost,
            cluster_nodes,
            cluster_redis,
            next_node: 0,
            next_master: 0,
            redis_port,
            redis_dir,
            redis: None,
        };
        if !backends.on_cluster() {
            backends.start_redis()?;
        }
        Ok(backends)
    }

    pub fn amqp_url(&self) -> String {
        match &self.cluster_nodes {
            Some(nodes) => nodes.replace("/%2f", &format!("/{}", self.vhost)),
            None => format!("amqp://guest:guest@127.0.0.1:5672/{}", self.vhost),
        }
    }

    pub fn on_cluster(&self) -> bool {
        self.cluster_nodes.is_some()
    }

    /// Kills one node of the cluster (each in turn), waits `down`, and starts it again; returns
    /// once it is back with its quorum queues caught up.
    pub fn kill_a_node(&mut self, down: Duration) -> anyhow::Result<()> {
        let node = (self.next_node % CLUSTER_NODES.len() + 1).to_string();
        self.next_node += 1;
        cluster_script(&["kill-rabbit", &node])?;
        std::thread::sleep(down);
        cluster_script(&["start-rabbit", &node])?;
        Ok(())
    }

    /// Kills one master of the Redis Cluster (the first, second, third in turn, by port), waits
    /// until its replica has taken over, and starts it again as the new master's replica.
    pub fn fail_over_a_master(&mut self) -> anyhow::Result<()> {
        let rank = (self.next_master % 3 + 1).to_string();
        self.next_master += 1;
        cluster_script(&["failover-redis", &rank]).map(drop)
    }

    pub fn redis_url(&self) -> String {
        match &self.cluster_redis {
            Some(seeds) => seeds.clone(),
            None => format!("redis://127.0.0.1:{}", self.redis_port),
        }
    }

    fn redis_cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("redis-cli")
            .args(["-p", &self.redis_port.to_string()])
            .args(args)
            .output()
            .context("redis-cli must be installed")?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    pub fn start_redis(&mut self) -> anyhow::Result<()> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.redis_port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.redis_dir)
            .stdout(Stdio::null())
            .spawn()
            .context("redis-server must be installed")?;
        self.redis = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.redis_cli(&["ping"])? != "PONG" {
            if Instant::now() > deadline {
                bail!("redis-server did not answer on port {}", self.redis_port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// SHUTDOWN syncs the append-only file first: what Redis acknowledged is on disk.
    pub fn stop_redis(&mut self) -> anyhow::Result<()> {
        self.redis_cli(&["shutdown"])?;
        if let Some(mut child) = self.redis.take() {
            child.wait()?;
        }
        Ok(())
    }

    /// Every client connection of the soak's Redis closed; on the cluster, of each of its nodes.
    pub fn drop_redis_connections(&self) -> anyhow::Result<()> {
        let Some(_) = &self.cluster_redis else {
            self.redis_cli(&["client", "kill", "type", "normal"])?;
            return Ok(());
        };
        for port in CLUSTER_REDIS_PORTS {
            run(
                "redis-cli",
                &["-p", &port.to_string(), "client", "kill", "type", "normal"],
            )?;
        }
        Ok(())
    }

    pub fn cut_broker_connections(&self) -> anyhow::Result<()> {
        rabbitmqctl(&[
            "close_all_connections",
            "--vhost",
            &self.vhost,
            "cut by the soak test",
        ])
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        if let Some(mut child) = self.redis.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.redis_dir);
        let _ = rabbitmqctl_on(self.on_cluster(), &["delete_vhost", &self.vhost]);
    }
}
