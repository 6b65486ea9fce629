//! A request's context as AMQP carries it: the headers a call sets (deadline, request id, user,
//! client address, trace) and the [`RequestContext`] a server reads back from a delivery.

use crate::rpc::{OutgoingCall, RequestContext};
use crate::trace::TraceHeaders;
use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, LongString};
use warren_contracts::rpc::{
    HEADER_CLIENT_ADDR, HEADER_DEADLINE, HEADER_REQUEST_ID, HEADER_USER_ID,
};

/// The headers of `call`'s request.
///
/// The server drops a request whose absolute deadline (`x-deadline`) passed while it sat in the
/// consumer's buffer or reached it in the last moments of its expiration.
pub(super) fn headers(call: &OutgoingCall) -> FieldTable {
    let mut headers = FieldTable::default();
    headers.insert(
        HEADER_DEADLINE.into(),
        AMQPValue::LongLongInt(i64::try_from(call.deadline_ms).unwrap_or(i64::MAX)),
    );
    if let Some(request_id) = &call.request_id {
        headers.insert(HEADER_REQUEST_ID.into(), long_string(request_id));
    }
    if let Some(user_id) = &call.user_id {
        headers.insert(HEADER_USER_ID.into(), long_string(user_id));
    }
    if let Some(client_addr) = &call.client_addr {
        headers.insert(HEADER_CLIENT_ADDR.into(), long_string(client_addr));
    }
    for (name, value) in call.trace.iter() {
        headers.insert(name.into(), long_string(value));
    }
    headers
}

/// The context of the request in `delivery`, received at `received_at` (epoch ms).
pub(super) fn read(delivery: &Delivery, received_at: u64) -> RequestContext {
    let properties = &delivery.properties;
    let headers = properties.headers().as_ref();
    RequestContext {
        method: properties
            .kind()
            .as_ref()
            .map(|k| k.as_str().to_owned())
            .unwrap_or_default(),
        request_id: header_string(headers, HEADER_REQUEST_ID),
        user_id: header_string(headers, HEADER_USER_ID),
        client_addr: header_string(headers, HEADER_CLIENT_ADDR),
        deadline_ms: deadline(properties, received_at),
        redelivered: delivery.redelivered,
        trace: trace_headers(headers),
    }
}

pub(super) fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes().to_vec()))
}

/// When nobody waits for the answer any more: the `x-deadline` header (epoch ms), or for a client
/// that sends none, the request's `expiration` counted from its arrival. Neither: no deadline.
fn deadline(properties: &BasicProperties, received_at: u64) -> u64 {
    let by_expiration = properties
        .expiration()
        .as_ref()
        .and_then(|e| e.as_str().parse::<u64>().ok())
        .map_or(u64::MAX, |ms| received_at.saturating_add(ms));
    let by_header = header_u64(properties.headers().as_ref(), HEADER_DEADLINE).unwrap_or(u64::MAX);
    by_expiration.min(by_header)
}

/// A header's value as text or a number, whichever the sender used.
fn header<'a>(headers: Option<&'a FieldTable>, name: &str) -> Option<&'a AMQPValue> {
    headers?.inner().get(name)
}

fn header_string(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    match header(headers, name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn trace_headers(headers: Option<&FieldTable>) -> TraceHeaders {
    let mut trace = TraceHeaders::default();
    for name in crate::trace::NAMES {
        if let Some(value) = header_string(headers, name) {
            trace.insert(name, value);
        }
    }
    trace
}

fn header_u64(headers: Option<&FieldTable>, name: &str) -> Option<u64> {
    match header(headers, name)? {
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortString(s) => s.as_str().parse().ok(),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.parse().ok(),
        _ => None,
    }
}
