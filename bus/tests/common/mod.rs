//! Shared test helpers: the two transports behind one switch, unique names, a vhost of a test's
//! own for fault injection, and waiting for a condition instead of sleeping.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::process::Command;
use std::time::Duration;
use warren_bus::Bus;

/// The broker the tests use; RabbitMQ on this machine unless `WARREN_TEST_AMQP_URL` says otherwise.
pub fn amqp_url() -> String {
    std::env::var("WARREN_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "test-{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Where a scenario's buses come from: a new broker connection for each (as separate processes
/// would have), or the one in-process bus shared by everything in the test.
#[derive(Clone)]
pub enum Net {
    Amqp(String),
    Memory(Bus),
}

impl Net {
    pub fn amqp() -> Self {
        Net::Amqp(amqp_url())
    }

    pub fn memory() -> Self {
        Net::Memory(Bus::in_process())
    }

    pub fn is_amqp(&self) -> bool {
        matches!(self, Net::Amqp(_))
    }

    pub async fn bus(&self) -> Bus {
        match self {
            Net::Amqp(url) => Bus::connect(url, "warren-bus-test")
                .await
                .unwrap_or_else(|e| panic!("RabbitMQ must be running at {url}: {e}")),
            Net::Memory(bus) => bus.clone(),
        }
    }
}

/// Runs each named scenario `async fn name(net: Net)` once over RabbitMQ and once in process.
#[macro_export]
macro_rules! both_transports {
    ($($name:ident),* $(,)?) => {
        mod amqp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Net::amqp()).await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Net::memory()).await;
                }
            )*
        }
    };
}

/// Polls `condition` until it holds, failing the test after `limit`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let give_up = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{what}: not true after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs `rabbitmqctl`, failing the test with its output if it fails.
pub fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl must be installed for fault tests");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A vhost of the test's own, so that cutting its connections touches no other test. Deleted
/// (with everything in it) when dropped.
pub struct Vhost {
    pub name: String,
}

impl Vhost {
    pub fn create() -> Self {
        let name = unique("vhost");
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    pub fn close_all_connections(&self) {
        rabbitmqctl(&["close_all_connections", "--vhost", &self.name, "fault test"]);
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// A broker user of the test's own, with every permission in one vhost. Deleted when dropped.
pub struct BrokerUser {
    pub name: String,
    password: String,
    vhost: String,
}

impl BrokerUser {
    pub fn create(vhost: &Vhost, prefix: &str) -> Self {
        let name = unique(prefix);
        let password = uuid::Uuid::new_v4().simple().to_string();
        rabbitmqctl(&["add_user", &name, &password]);
        let user = Self {
            name,
            password,
            vhost: vhost.name.clone(),
        };
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &vhost.name,
            &user.name,
            ".*",
            ".*",
            ".*",
        ]);
        user
    }

    /// The URL that logs in as this user, in its vhost.
    pub fn url(&self) -> String {
        format!(
            "amqp://{}:{}@127.0.0.1:5672/{}",
            self.name, self.password, self.vhost
        )
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_user", &self.name])
            .output();
    }
}

/// Whether a queue exists, asked on a connection of its own. An exclusive queue of another
/// connection answers RESOURCE_LOCKED, which still means it exists.
pub async fn queue_exists(url: &str, queue: &str) -> bool {
    use lapin::options::QueueDeclareOptions;
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let result = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await;
    let exists = match result {
        Ok(_) => true,
        Err(error) => !error.to_string().contains("NOT_FOUND"),
    };
    let _ = connection.close(200, "done".into()).await;
    exists
}

/// Deletes what a test declared that outlives it on the broker: the services' durable event
/// exchanges and durable queues. Nothing to do in process.
pub async fn remove(net: &Net, services: &[&str], queues: &[&str]) {
    if let Net::Amqp(url) = net {
        remove_from(url, services, queues).await;
    }
}

pub async fn remove_from(url: &str, services: &[&str], queues: &[&str]) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    for queue in queues {
        channel
            .queue_delete((*queue).into(), QueueDeleteOptions::default())
            .await
            .unwrap();
    }
    for service in services {
        let exchange = format!("{service}.events");
        channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .unwrap();
    }
    let _ = connection.close(200, "done".into()).await;
}
