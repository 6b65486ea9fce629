//! The RPC wire format: how a request names its method and context, and how a reply comes back.
//!
//! A request's body is its parameters as JSON. The method name travels in the AMQP `type`
//! property; the context in the headers named here. A reply's body is a [`Reply`]:
//! `{"ok": <result>}` or `{"error": {"code": "...", "message": "..."}}`.

use crate::error::WireError;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Header carrying the id the gateway gave the client request, for logs and traces.
pub const HEADER_REQUEST_ID: &str = "x-request-id";
/// Header carrying the authenticated caller's user id, set by the gateway, never by a client.
pub const HEADER_USER_ID: &str = "x-user-id";
/// Header carrying the address of the client a request comes from (as the gateway saw it, after
/// its trusted proxies), set by the gateway, never by a client; services throttle by it.
pub const HEADER_CLIENT_ADDR: &str = "x-client-addr";
/// Header carrying the call's deadline, Unix epoch milliseconds. A server drops a request whose
/// deadline has passed instead of handling it: nobody waits for its answer any more.
pub const HEADER_DEADLINE: &str = "x-deadline";

/// The queue a service's instances consume RPC requests from.
pub fn rpc_queue(service: &str) -> String {
    format!("{service}.rpc")
}

/// The direct exchange through which a call reaches the one instance that bound its routing key
/// (a sessions instance binds the sessions it owns); see [`unrouted_exchange`].
pub fn route_exchange(service: &str) -> String {
    format!("{service}.route")
}

/// The alternate exchange of [`route_exchange`]: a call whose key nobody bound goes on to the
/// service's shared queue, which is bound here.
pub fn unrouted_exchange(service: &str) -> String {
    format!("{service}.unrouted")
}

/// The routing key of a client call that is best answered by one instance: the session id of
/// `sessions.command` and `sessions.leave`, whose owner applies them.
pub fn route_key<'a>(method: &str, params: &'a serde_json::Value) -> Option<&'a str> {
    match method {
        "sessions.command" | "sessions.leave" => params.get("session_id")?.as_str(),
        _ => None,
    }
}

/// The fanout exchange a service publishes its events on.
pub fn events_exchange(service: &str) -> String {
    format!("{service}.events")
}

/// No parameters, or no result: `{}` on the wire. Any object is accepted as input.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize,
)]
pub struct Empty {}

/// A reply: the method's result or an error.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    Ok(T),
    Error(WireError),
}

impl<T> From<Result<T, WireError>> for Reply<T> {
    fn from(result: Result<T, WireError>) -> Self {
        match result {
            Ok(value) => Reply::Ok(value),
            Err(error) => Reply::Error(error),
        }
    }
}

impl<T> From<Reply<T>> for Result<T, WireError> {
    fn from(reply: Reply<T>) -> Self {
        match reply {
            Reply::Ok(value) => Ok(value),
            Reply::Error(error) => Err(error),
        }
    }
}

/// One RPC method: which service serves it, its name on the wire, and its types.
///
/// Declared once here and used by both sides, so a caller and a server cannot disagree on a name
/// or a shape without the compiler noticing.
pub trait Method {
    /// The service whose `<service>.rpc` queue serves this method.
    const SERVICE: &'static str;
    /// The method's name, as it appears in the request's `type` property.
    const NAME: &'static str;
    type Params: Serialize + DeserializeOwned + Send + Sync + 'static;
    type Result: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Whether the server remembers a successful reply by request id for a while, so that a
    /// request delivered again (the instance handling it died before acknowledging it) gets the
    /// same reply instead of being applied twice. Off for reads, which may simply run again, and
    /// for replies that carry secrets (tokens), which are not to be stored.
    const REMEMBER_REPLY: bool = true;
    /// Whether a client may call this method over the gateway's WebSocket. The gateway forwards
    /// exactly these; the rest are between services (claims, holds, account creation…), and
    /// a client naming one is told the method does not exist.
    const CLIENT: bool = false;
}

/// Writes a type's schema into a generator's definitions and gives the reference to it.
pub type SchemaOf = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

pub(crate) fn schema_of<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// A method as a table of every method lists it: its name, its service, whether clients may
/// call it, and its types as JSON Schemas, so that methods of different types fit one slice.
#[derive(Debug, Clone, Copy)]
pub struct MethodInfo {
    pub name: &'static str,
    pub service: &'static str,
    pub client: bool,
    pub params: SchemaOf,
    pub result: SchemaOf,
}

impl MethodInfo {
    /// A method listed in [`crate::methods`] has types described by a JSON Schema (the client
    /// libraries' types are generated from them, see [`crate::schema`]); methods that services
    /// declare for themselves, outside this table, need none.
    pub const fn of<M: Method>() -> Self
    where
        M::Params: schemars::JsonSchema,
        M::Result: schemars::JsonSchema,
    {
        Self {
            name: M::NAME,
            service: M::SERVICE,
            client: M::CLIENT,
            params: schema_of::<M::Params>,
            result: schema_of::<M::Result>,
        }
    }
}

/// Declares a module's methods (each a unit struct and its [`Method`] impl, written out as
/// usual) and the module's `METHODS` table of them, so that a method is listed where it is
/// declared and nowhere else: whatever is built from [`crate::methods`] (the gateway's routing
/// table, its per-method metrics) knows a new method without being told.
macro_rules! declare_methods {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident;
        impl Method for $for:ident { $($body:tt)* }
    )*) => {
        $(
            $(#[$meta])*
            pub struct $name;
            impl $crate::rpc::Method for $for { $($body)* }
        )*

        /// Every method declared in this module.
        pub const METHODS: &[$crate::rpc::MethodInfo] =
            &[$($crate::rpc::MethodInfo::of::<$name>()),*];
    };
}
pub(crate) use declare_methods;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use serde_json::json;

    #[test]
    fn replies_are_plain_json() {
        let ok: Reply<serde_json::Value> = Reply::Ok(json!({"n": 1}));
        assert_eq!(serde_json::to_value(&ok).unwrap(), json!({"ok": {"n": 1}}));
        let err: Reply<()> = Reply::Error(WireError::new(ErrorCode::NotFound, "no such room"));
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"error": {"code": "not_found", "message": "no such room"}})
        );
    }

    #[test]
    fn a_reply_reads_back_from_its_json() {
        let reply: Reply<u32> = serde_json::from_str(r#"{"ok": 7}"#).unwrap();
        assert_eq!(Result::from(reply), Ok(7));
        let reply: Reply<u32> =
            serde_json::from_str(r#"{"error": {"code": "timeout", "message": "late"}}"#).unwrap();
        assert_eq!(
            Result::from(reply),
            Err(WireError::new(ErrorCode::Timeout, "late"))
        );
    }
}
