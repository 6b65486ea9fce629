//! [`MemoryStore`]: accounts in a map in this process, for the embedded mode and fast tests. Each
//! operation holds the lock for its whole (synchronous) body, which makes it atomic.

use super::{AccountStore, StoreError};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, MutexGuard, PoisonError};
use warren_contracts::accounts::Account;

/// Accounts by user id, in memory; gone when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStore {
    accounts: Mutex<HashMap<String, Account>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every update under the lock is a single insert, replace or remove, so a panic elsewhere
    /// cannot leave the map half-updated and a poisoned lock is still good to use.
    fn accounts(&self) -> MutexGuard<'_, HashMap<String, Account>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl AccountStore for MemoryStore {
    async fn create(&self, account: &Account) -> Result<(), StoreError> {
        match self.accounts().entry(account.user_id.clone()) {
            Entry::Occupied(_) => Err(StoreError::AlreadyExists),
            Entry::Vacant(slot) => {
                slot.insert(account.clone());
                Ok(())
            }
        }
    }

    async fn get(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.accounts().get(user_id).cloned())
    }

    async fn set_display_name(
        &self,
        user_id: &str,
        display_name: &str,
    ) -> Result<Account, StoreError> {
        let mut accounts = self.accounts();
        let account = accounts.get_mut(user_id).ok_or(StoreError::NotFound)?;
        display_name.clone_into(&mut account.display_name);
        Ok(account.clone())
    }

    async fn delete(&self, user_id: &str) -> Result<(), StoreError> {
        self.accounts()
            .remove(user_id)
            .map(drop)
            .ok_or(StoreError::NotFound)
    }
}
