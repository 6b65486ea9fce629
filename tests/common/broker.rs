//! Broker users of a test's own, for the tests of who may publish what.

use super::{Vhost, rabbitmqctl, unique};
use std::process::Command;

/// A broker user of the test's own, with every permission in `vhost`. Deleted when dropped.
pub struct BrokerUser {
    pub name: String,
    password: String,
    vhost: String,
}

impl BrokerUser {
    pub fn create(vhost: &Vhost, prefix: &str) -> Self {
        let user = Self {
            name: unique(prefix),
            password: uuid::Uuid::new_v4().simple().to_string(),
            vhost: vhost.0.clone(),
        };
        rabbitmqctl(&["add_user", &user.name, &user.password]);
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &vhost.0,
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
