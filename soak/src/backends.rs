//! The soak's own backends, so that it never disturbs anything else on the machine: a RabbitMQ
//! vhost of its own, and a `redis-server` of its own on a free port with an fsynced append-only
//! file (as deployed), which the fault injector stops and starts. Both go when this is dropped.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .context("rabbitmqctl must be installed")?;
    if !output.status.success() {
        bail!(
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

pub struct Backends {
    pub vhost: String,
    pub redis_port: u16,
    redis_dir: PathBuf,
    redis: Option<Child>,
}

impl Backends {
    pub fn start() -> anyhow::Result<Self> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let vhost = format!("soak-{}", &tag[..10]);
        rabbitmqctl(&["add_vhost", &vhost])?;
        rabbitmqctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"])?;
        let redis_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let redis_dir = std::env::temp_dir().join(format!("warren-soak-{}", &tag[..10]));
        std::fs::create_dir_all(&redis_dir)?;
        let mut backends = Self {
            vhost,
            redis_port,
            redis_dir,
            redis: None,
        };
        backends.start_redis()?;
        Ok(backends)
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.vhost)
    }

    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.redis_port)
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

    pub fn drop_redis_connections(&self) -> anyhow::Result<()> {
        self.redis_cli(&["client", "kill", "type", "normal"])?;
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
        let _ = rabbitmqctl(&["delete_vhost", &self.vhost]);
    }
}
