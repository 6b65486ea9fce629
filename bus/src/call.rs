//! How a call is made: [`CallOptions`] as a caller gives them, and the [`OutgoingCall`] a
//! transport carries.

use crate::trace::TraceHeaders;
use std::time::Duration;
use warren_contracts::event::now_millis;

/// How long a call waits for its reply unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to make one call.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// The deadline, counted from when the call starts. The request expires in the broker then.
    pub timeout: Duration,
    /// The client request this call serves, for logs across hops.
    pub request_id: Option<String>,
    /// The authenticated user the call is made for.
    pub user_id: Option<String>,
    /// The address of the game client the call is made for, as the gateway saw it.
    pub client_addr: Option<String>,
    /// A routing key: the call goes to the instance that bound it with [`crate::Bus::bind_route`]
    /// if one did, and to any instance otherwise.
    pub route: Option<String>,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            request_id: None,
            user_id: None,
            client_addr: None,
            route: None,
        }
    }
}

impl CallOptions {
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    pub fn client_addr(mut self, addr: impl Into<String>) -> Self {
        self.client_addr = Some(addr.into());
        self
    }

    pub fn route(mut self, key: impl Into<String>) -> Self {
        self.route = Some(key.into());
        self
    }

    /// The same options without a user: a call a service makes as itself.
    pub fn as_service(mut self) -> Self {
        self.user_id = None;
        self
    }
}

/// A request as a transport carries it.
#[derive(Debug, Clone)]
pub(crate) struct OutgoingCall {
    pub service: String,
    pub method: String,
    pub body: Vec<u8>,
    pub timeout: Duration,
    /// Absolute deadline, Unix epoch milliseconds, for the server's expiry check.
    pub deadline_ms: u64,
    pub request_id: Option<String>,
    pub user_id: Option<String>,
    pub client_addr: Option<String>,
    pub route: Option<String>,
    /// The calling span's trace context, for the handler's span to continue.
    pub trace: TraceHeaders,
}

impl OutgoingCall {
    pub fn new(
        service: &str,
        method: &str,
        body: Vec<u8>,
        options: &CallOptions,
        trace: TraceHeaders,
    ) -> Self {
        let timeout_ms = u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX);
        Self {
            service: service.to_owned(),
            method: method.to_owned(),
            body,
            timeout: options.timeout,
            deadline_ms: now_millis().saturating_add(timeout_ms),
            request_id: options.request_id.clone(),
            user_id: options.user_id.clone(),
            client_addr: options.client_addr.clone(),
            route: options.route.clone(),
            trace,
        }
    }
}
