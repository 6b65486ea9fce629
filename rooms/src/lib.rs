//! Warren's `rooms` service: public rooms anyone can find. A player creates a room for a game
//! mode and a size; others find it in the list and join; when it is full and everyone is ready,
//! the room asks `sessions` for a game session, its players are told `session.started`, and the
//! room is gone.
//!
//! A user is in at most one room, public or private, and not in a room while in a game or a
//! matchmaking queue. The `accounts` service keeps that rule for every service at once (see
//! [`warren_contracts::activity`]): a room claims a user there before seating them, and answers
//! `rooms.holds` when a claim of its own is in the way of another.
//!
//! ```text
//! lib.rs        serve() and router(): the methods wired to their handlers
//! handlers.rs   create, list, join, leave, ready (and the start it may lead to), holds
//! service.rs    the compare-and-set loop, events, and the user's claim in accounts
//! modes.rs      which game modes and sizes a room may have, as sessions says
//! store/        RoomStore: in memory, or Redis with a version check on every write
//! ```

mod handlers;
mod modes;
mod service;
pub mod store;

pub use modes::MAX_ROOM_SIZE;
pub use store::{MemoryStore, RedisStore, RoomStore, StoreError};

use service::Service;
use std::future::Future;
use std::sync::Arc;
use warren_bus::{Bus, BusError, RequestContext, Router, ServeOptions, ServerHandle};
use warren_contracts::rooms::{Create, HoldsMethod, Join, Leave, List, Ready, SERVICE};
use warren_contracts::{Method, WireError};

/// Where this service's keys live in Redis (after the deployment's namespace).
pub const REDIS_PREFIX: &str = "warren:rooms:";

/// Starts answering the `rooms.*` methods on `bus`. Several instances over one store share the
/// rooms: any instance serves any room.
pub async fn serve(
    bus: &Bus,
    store: Arc<dyn RoomStore>,
    options: ServeOptions,
) -> Result<ServerHandle, BusError> {
    bus.serve(router(bus.clone(), store), options).await
}

/// The service's methods and their handlers; `bus` carries the calls and events it makes.
pub fn router(bus: Bus, store: Arc<dyn RoomStore>) -> Router {
    let service = Arc::new(Service::new(bus, store));
    let router = Router::new(SERVICE);
    let router = route::<Create, _, _>(router, &service, handlers::create);
    let router = route::<List, _, _>(router, &service, handlers::list);
    let router = route::<Join, _, _>(router, &service, handlers::join);
    let router = route::<Leave, _, _>(router, &service, handlers::leave);
    let router = route::<Ready, _, _>(router, &service, handlers::ready);
    route::<HoldsMethod, _, _>(router, &service, handlers::holds)
}

/// Registers `handler` for method `M`, giving it the shared [`Service`].
fn route<M, F, Fut>(router: Router, service: &Arc<Service>, handler: F) -> Router
where
    M: Method,
    F: Fn(Arc<Service>, RequestContext, M::Params) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<M::Result, WireError>> + Send + 'static,
{
    let service = Arc::clone(service);
    router.method::<M, _, _>(move |ctx, params| {
        let span = tracing::info_span!(
            "rpc",
            method = M::NAME,
            request_id = ctx.request_id.as_deref(),
            user_id = ctx.user_id.as_deref()
        );
        tracing::Instrument::instrument(handler(Arc::clone(&service), ctx, params), span)
    })
}
