//! A stand-in for the accounts service: records `accounts.create` calls, and can be told to fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use warren_bus::{Bus, Router, ServeOptions, ServerHandle};
use warren_contracts::accounts::{Account, Create, INITIAL_RATING, NewAccount};
use warren_contracts::{ErrorCode, WireError};

pub const ACCOUNTS_FAILURE: &str = "accounts could not store the account";

#[derive(Clone, Default)]
pub struct FakeAccounts {
    created: Arc<Mutex<Vec<NewAccount>>>,
    pub failing: Arc<AtomicBool>,
}

impl FakeAccounts {
    pub async fn serve(&self, bus: &Bus) -> ServerHandle {
        let fake = self.clone();
        let router = Router::new("accounts").method::<Create, _, _>(move |_, params| {
            let fake = fake.clone();
            async move {
                if fake.failing.load(Ordering::SeqCst) {
                    return Err(WireError::new(ErrorCode::Unavailable, ACCOUNTS_FAILURE));
                }
                fake.created.lock().unwrap().push(params.clone());
                Ok(Account {
                    user_id: params.user_id,
                    display_name: params.username.clone(),
                    username: params.username,
                    rating: INITIAL_RATING,
                    games_played: 0,
                    games_won: 0,
                })
            }
        });
        bus.serve(router, ServeOptions::default()).await.unwrap()
    }

    pub fn created(&self) -> Vec<NewAccount> {
        self.created.lock().unwrap().clone()
    }
}
