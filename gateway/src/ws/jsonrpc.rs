//! JSON-RPC 2.0 as the gateway speaks it: reading one request, writing one response.
//!
//! Batches are not supported (an array gets -32600), nor notifications (a request without an
//! id gets -32600: every request is answered). Protocol errors use JSON-RPC's codes; application
//! errors use -32000 (invalid parameters -32602) with the stable code in `error.data.code`.

use serde_json::{Value, json};
use warren_contracts::{ErrorCode, WireError};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
/// Every application error: the stable code is in `error.data.code`.
pub const APPLICATION_ERROR: i64 = -32000;

/// The longest string id accepted. An id is echoed in full in its answer, so a long one would
/// let a client make the gateway send back (and queue) what it was sent.
pub const MAX_ID_BYTES: usize = 128;

/// The longest error message sent. Messages may quote the caller's input (an unknown method, a
/// value a service's parameters refused): past this they are cut, on a character boundary.
pub const MAX_MESSAGE_BYTES: usize = 200;

/// A request as the gateway accepts it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// A string or an integer, echoed back as given.
    pub id: Value,
    pub method: String,
    /// Always an object (`{}` when the request had none).
    pub params: Value,
}

/// Reads one text frame; on failure, the error response to send back.
pub fn parse(text: &str) -> Result<Request, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        error_response(
            &Value::Null,
            PARSE_ERROR,
            &format!("parse error: {e}"),
            None,
        )
    })?;
    let invalid = |id: &Value, message: &str| error_response(id, INVALID_REQUEST, message, None);
    let mut object = match value {
        Value::Object(object) => object,
        Value::Array(_) => return Err(invalid(&Value::Null, "batches are not supported")),
        _ => return Err(invalid(&Value::Null, "a request is a JSON object")),
    };
    let id = match object.remove("id") {
        Some(Value::String(id)) if id.len() > MAX_ID_BYTES => {
            let message = format!("a string id is at most {MAX_ID_BYTES} bytes");
            return Err(invalid(&Value::Null, &message));
        }
        Some(id @ Value::String(_)) => id,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n),
        Some(_) => return Err(invalid(&Value::Null, "id must be a string or an integer")),
        None => return Err(invalid(&Value::Null, "a request needs an id")),
    };
    if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(invalid(&id, "jsonrpc must be \"2.0\""));
    }
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        _ => return Err(invalid(&id, "method must be a string")),
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => json!({}),
        Some(params @ Value::Object(_)) => params,
        Some(_) => {
            return Err(error_response(
                &id,
                INVALID_PARAMS,
                "params must be an object",
                Some(ErrorCode::InvalidParams),
            ));
        }
    };
    Ok(Request { id, method, params })
}

pub fn result_response(id: &Value, result: &Value) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string()
}

pub fn error_response(id: &Value, code: i64, message: &str, data: Option<ErrorCode>) -> String {
    let mut error = json!({ "code": code, "message": clipped(message) });
    if let Some(data) = data {
        error["data"] = json!({ "code": data });
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": error }).to_string()
}

/// `message`, or its first [`MAX_MESSAGE_BYTES`] ending in "…".
fn clipped(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.into();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end]).into()
}

/// The response for an error a service (or the bus) gave.
pub fn application_error(id: &Value, error: &WireError) -> String {
    let code = match error.code {
        ErrorCode::InvalidParams => INVALID_PARAMS,
        ErrorCode::UnknownMethod => METHOD_NOT_FOUND,
        _ => APPLICATION_ERROR,
    };
    error_response(id, code, &error.message, Some(error.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> Value {
        serde_json::from_str(&parse(text).unwrap_err()).unwrap()
    }

    #[test]
    fn a_well_formed_request_is_read() {
        let request = parse(r#"{"jsonrpc":"2.0","id":7,"method":"accounts.me"}"#).unwrap();
        assert_eq!(request.id, json!(7));
        assert_eq!(request.method, "accounts.me");
        assert_eq!(request.params, json!({}));
        let request = parse(r#"{"jsonrpc":"2.0","id":"a","method":"m","params":{"x":1}}"#).unwrap();
        assert_eq!(request.id, json!("a"));
        assert_eq!(request.params, json!({"x": 1}));
    }

    #[test]
    fn each_malformed_request_gets_its_code() {
        let cases = [
            ("{not json", PARSE_ERROR, Value::Null),
            ("[]", INVALID_REQUEST, Value::Null),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"m"}]"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            ("42", INVALID_REQUEST, Value::Null),
            (
                r#"{"jsonrpc":"2.0","method":"m"}"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"m"}"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"1.0","id":3,"method":"m"}"#,
                INVALID_REQUEST,
                json!(3),
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"method":5}"#,
                INVALID_REQUEST,
                json!(3),
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"m","params":[1]}"#,
                INVALID_PARAMS,
                json!(3),
            ),
        ];
        for (text, code, id) in cases {
            let response = error_of(text);
            assert_eq!(response["error"]["code"], code, "{text}");
            assert_eq!(response["id"], id, "{text}");
            assert_eq!(response["jsonrpc"], "2.0");
        }
    }

    #[test]
    fn a_long_string_id_is_refused_not_echoed() {
        let long = "i".repeat(MAX_ID_BYTES + 1);
        let text = format!(r#"{{"jsonrpc":"2.0","id":"{long}","method":"m"}}"#);
        let response = error_of(&text);
        assert_eq!(response["error"]["code"], INVALID_REQUEST);
        assert_eq!(response["id"], Value::Null);
        let fits = "i".repeat(MAX_ID_BYTES);
        let text = format!(r#"{{"jsonrpc":"2.0","id":"{fits}","method":"m"}}"#);
        assert_eq!(parse(&text).unwrap().id, json!(fits));
    }

    #[test]
    fn error_messages_are_cut_short() {
        // Multi-byte characters straddle the cut: it must land on a boundary.
        let message = format!("unknown method {:?}", "é".repeat(40_000));
        let response: Value =
            serde_json::from_str(&error_response(&json!(1), METHOD_NOT_FOUND, &message, None))
                .unwrap();
        let sent = response["error"]["message"].as_str().unwrap();
        assert!(
            sent.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8(),
            "{}",
            sent.len()
        );
        assert!(sent.starts_with("unknown method"), "{sent}");
        assert!(sent.ends_with('…'), "{sent}");
        let short = error_response(&json!(1), METHOD_NOT_FOUND, "short", None);
        assert!(short.contains(r#""message":"short""#), "{short}");
    }

    #[test]
    fn application_errors_carry_the_stable_code() {
        let error = WireError::new(ErrorCode::RoomFull, "full");
        let response: Value = serde_json::from_str(&application_error(&json!(1), &error)).unwrap();
        assert_eq!(response["error"]["code"], APPLICATION_ERROR);
        assert_eq!(response["error"]["data"]["code"], "room_full");
        let error = WireError::new(ErrorCode::InvalidParams, "bad");
        let response: Value = serde_json::from_str(&application_error(&json!(1), &error)).unwrap();
        assert_eq!(response["error"]["code"], INVALID_PARAMS);
    }
}
