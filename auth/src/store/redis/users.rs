//! Users: their credentials, and the user id record that lets logins start; deleting a user ends
//! their logins.

use super::RedisStore;
use super::scripts::{CLOSE_USER, CREATE_CREDENTIALS, DELETE_CREDENTIALS};
use crate::store::{Deleted, StoreError, UserRecord, username_key};
use ::redis::AsyncCommands;

impl RedisStore {
    pub(super) async fn add_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let name = username_key(&user.username);
        let id_key = self.user_id_key(&user.user_id);
        // The user id record first: without credentials it is harmless (nobody was given the id),
        // while credentials without it could never log in.
        let _: () = self.conn().set(&id_key, &name).await?;
        let mut invocation = CREATE_CREDENTIALS.prepare_invoke();
        invocation
            .key(self.credentials_key(&user.username))
            .arg(&user.user_id)
            .arg(&user.username)
            .arg(&user.password_hash);
        let created: i64 = invocation.invoke_async(&mut self.conn()).await?;
        if created == 1 {
            return Ok(true);
        }
        self.tidy(vec![id_key]).await;
        Ok(false)
    }

    pub(super) async fn read_user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = self.credentials_key(username);
        let fields: (Option<String>, Option<String>, Option<String>) = ::redis::cmd("HMGET")
            .arg(&key)
            .arg("user_id")
            .arg("username")
            .arg("password_hash")
            .query_async(&mut self.conn())
            .await?;
        match fields {
            (None, None, None) => Ok(None),
            (Some(user_id), Some(username), Some(password_hash)) => Ok(Some(UserRecord {
                user_id,
                username,
                password_hash,
            })),
            _ => Err(StoreError::Corrupt(format!("{key} lacks a field"))),
        }
    }

    pub(super) async fn remove_user(&self, user_id: &str) -> Result<Deleted, StoreError> {
        let name: Option<String> = self.conn().get(self.user_id_key(user_id)).await?;
        let mut existed = false;
        if let Some(name) = name {
            let mut invocation = DELETE_CREDENTIALS.prepare_invoke();
            invocation.key(self.credentials_key(&name)).arg(user_id);
            let deleted: i64 = invocation.invoke_async(&mut self.conn()).await?;
            existed = deleted == 1;
        }
        // No login starts once the user id record is gone, so the index is complete now.
        let mut invocation = CLOSE_USER.prepare_invoke();
        invocation
            .key(self.user_id_key(user_id))
            .key(self.user_families_key(user_id));
        let indexed: Vec<String> = invocation.invoke_async(&mut self.conn()).await?;
        let families = self.end_all(user_id, &indexed).await?;
        // Only once every login is ended: a retry after a failure finds them in the index.
        let _: i64 = self.conn().del(self.user_families_key(user_id)).await?;
        Ok(Deleted { existed, families })
    }
}
