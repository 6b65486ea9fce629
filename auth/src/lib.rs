//! Warren's auth service: registration and login with username and password (argon2id), access
//! tokens as short-lived JWTs (HS256, subject = user id), opaque refresh tokens that rotate on use
//! and can be revoked; a failed-login throttle per (username, client address) and per address, a
//! request rate per address, and a bounded number of password hashes at once.
//!
//! It answers `auth.register`, `auth.login`, `auth.refresh`, `auth.logout` and the
//! service-to-service `auth.revoke_user` and `auth.revocations` on the bus (see
//! `warren_contracts::auth`), calls `accounts.create` when a user registers, and announces ended
//! logins on `auth.events` for the gateways.
//!
//! ```text
//! lib.rs          serve / router: the methods wired to their handlers
//! startup.rs      store() and start(): the service as its binary and `warren` start it
//! config.rs       AuthConfig: JWT secret, token lifetimes, hashing slots, rate; throttle limits
//! handlers/       one function per method; starting and ending logins; internal failures
//!                 logged and hidden here
//! hashing.rs      Hashing: the bounded slots (and their reused memory) hashes run in
//! password.rs     argon2id hash and verify in a given memory area, PHC strings
//! tokens.rs       JWT access tokens; random refresh tokens and their SHA-256 digests
//! validate.rs     username and password rules
//! store/          AuthStore: the storage trait, in memory and on Redis
//! ```

mod config;
mod handlers;
mod hashing;
mod password;
mod startup;
pub mod store;
mod tokens;
mod validate;

pub use config::{
    AuthConfig, FAILED_LOGIN_WINDOW, LOGIN_LIMITS, MAX_FAILED_LOGINS,
    MAX_FAILED_LOGINS_PER_ADDRESS, RATE_WINDOW, UNKNOWN_CLIENT, default_hash_concurrency,
};
pub use hashing::Slot;
pub use hashing::{BUSY_RETRY_AFTER, HashError, Hashing};
pub use startup::{start, store};
pub use store::{
    Admission, AuthStore, Deleted, Ended, LoginLimits, MemoryStore, REDIS_PREFIX, RedisStore,
    Rotation, Settle, StoreError, UserRecord,
};

use handlers::{Failure, Service};
use std::future::Future;
use std::sync::Arc;
use warren_bus::{Bus, BusError, RequestContext, Router, ServeOptions, ServerHandle};
use warren_contracts::auth::{
    Login, Logout, Refresh, Register, Revocations, RevokeUserMethod, SERVICE,
};
use warren_contracts::{Method, WireError};

/// Requests one auth instance takes from its queue at once. Many: a register or login mostly waits
/// for a hashing slot, and that wait is bounded (`--hash-queue-timeout`), so a flood is answered
/// `rate_limited` in time. Left in the broker's queue instead, requests would wait there with no
/// bound but the caller's deadline.
pub const PREFETCH: u16 = 1024;

/// How the auth binaries serve: [`PREFETCH`] requests at once.
pub fn serve_options() -> ServeOptions {
    ServeOptions {
        prefetch: PREFETCH,
        ..ServeOptions::default()
    }
}

/// Starts answering the `auth.*` methods on `bus`.
pub async fn serve(
    bus: &Bus,
    store: Arc<dyn AuthStore>,
    config: AuthConfig,
    options: ServeOptions,
) -> Result<ServerHandle, BusError> {
    bus.serve(router(bus.clone(), store, config), options).await
}

/// The `auth.*` methods with their handlers; `bus` is what they call `accounts.create` on.
pub fn router(bus: Bus, store: Arc<dyn AuthStore>, config: AuthConfig) -> Router {
    let hashing = Arc::new(Hashing::new(
        config.hash_concurrency,
        config.hash_queue_timeout,
    ));
    router_with(bus, store, config, hashing)
}

/// As [`router`], hashing in the given slots (`config`'s hashing settings are then unused): for
/// tests that watch the slots.
pub fn router_with(
    bus: Bus,
    store: Arc<dyn AuthStore>,
    config: AuthConfig,
    hashing: Arc<Hashing>,
) -> Router {
    let service = Arc::new(Service::new(bus, store, &config, hashing));
    let router = Router::new(SERVICE);
    let router = route::<Register, _, _>(router, &service, handlers::register);
    let router = route::<Login, _, _>(router, &service, handlers::login);
    let router = route::<Refresh, _, _>(router, &service, handlers::refresh);
    let router = route::<Logout, _, _>(router, &service, handlers::logout);
    let router = route::<RevokeUserMethod, _, _>(router, &service, handlers::revoke_user);
    route::<Revocations, _, _>(router, &service, handlers::revocations)
}

fn route<M, F, Fut>(router: Router, service: &Arc<Service>, handler: F) -> Router
where
    M: Method,
    F: Fn(Arc<Service>, RequestContext, M::Params) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<M::Result, Failure>> + Send + 'static,
{
    let service = Arc::clone(service);
    router.method::<M, _, _>(move |ctx, params| {
        let handled = handler(Arc::clone(&service), ctx, params);
        async move { handled.await.map_err(WireError::from) }
    })
}
