//! Warren's auth service: registration and login with username and password (argon2id), access
//! tokens as short-lived JWTs (HS256, subject = user id), opaque refresh tokens that rotate on use
//! and can be revoked, and a per-username throttle on failed logins.
//!
//! It answers `auth.register`, `auth.login`, `auth.refresh`, `auth.logout` and the
//! service-to-service `auth.revoke_user` on the bus (see `warren_contracts::auth`), and calls
//! `accounts.create` when a user registers.
//!
//! ```text
//! lib.rs          serve / router: the methods wired to their handlers
//! config.rs       AuthConfig: JWT secret, token lifetimes; the login throttle's limits
//! handlers.rs     one function per method; internal failures logged and hidden here
//! password.rs     argon2id hash and verify, on the blocking pool
//! tokens.rs       JWT access tokens; random refresh tokens and their SHA-256 digests
//! validate.rs     username and password rules
//! store/          AuthStore: the storage trait, in memory and on Redis
//! ```

mod config;
mod handlers;
mod password;
pub mod store;
mod tokens;
mod validate;

pub use config::{
    AuthConfig, DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_REFRESH_TOKEN_TTL, FAILED_LOGIN_WINDOW,
    MAX_FAILED_LOGINS,
};
pub use store::{AuthStore, MemoryStore, REDIS_PREFIX, RedisStore, StoreError, UserRecord};

use handlers::{Failure, Service};
use std::future::Future;
use std::sync::Arc;
use warren_bus::{Bus, BusError, RequestContext, Router, ServeOptions, ServerHandle};
use warren_contracts::auth::{Login, Logout, Refresh, Register, RevokeUserMethod, SERVICE};
use warren_contracts::{Method, WireError};

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
    let service = Arc::new(Service::new(bus, store, &config));
    let router = Router::new(SERVICE);
    let router = route::<Register, _, _>(router, &service, handlers::register);
    let router = route::<Login, _, _>(router, &service, handlers::login);
    let router = route::<Refresh, _, _>(router, &service, handlers::refresh);
    let router = route::<Logout, _, _>(router, &service, handlers::logout);
    route::<RevokeUserMethod, _, _>(router, &service, handlers::revoke_user)
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
