//! Bounds on what callers send, checked before anything reaches the store. Lengths count
//! characters (Unicode scalar values), not bytes, so a name in any script gets the same room.
//! Every refusal is `invalid_params` with a message that says what to change.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use warren_contracts::activity::Activity;
use warren_contracts::{ErrorCode, WireError};

/// Longest user id accepted (they are UUIDs in practice: 36 characters).
pub const MAX_USER_ID_CHARS: usize = 64;
/// Longest display name accepted, after trimming.
pub const MAX_DISPLAY_NAME_CHARS: usize = 32;
/// Longest username accepted at creation. `auth` owns the rules for usernames; this only bounds
/// what the store is asked to keep.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest activity id (room, ticket or session id) accepted; UUIDs in practice.
pub const MAX_ACTIVITY_ID_CHARS: usize = 64;
/// Most users one hand-over or release may name: the largest game (relay) seats 64.
pub const MAX_USERS_PER_CALL: usize = 64;

fn invalid(message: String) -> WireError {
    WireError::new(ErrorCode::InvalidParams, message)
}

/// A user id: 1–64 characters.
pub fn user_id(user_id: &str) -> Result<&str, WireError> {
    let chars = user_id.chars().count();
    if chars == 0 || chars > MAX_USER_ID_CHARS {
        return Err(invalid(format!(
            "user_id must be 1 to {MAX_USER_ID_CHARS} characters long (got {chars})"
        )));
    }
    Ok(user_id)
}

/// An activity whose id is 1–64 characters; `what` names it in the message (`activity`, `from`).
pub fn activity<'a>(what: &str, activity: &'a Activity) -> Result<&'a Activity, WireError> {
    let chars = activity.id.chars().count();
    if chars == 0 || chars > MAX_ACTIVITY_ID_CHARS {
        return Err(invalid(format!(
            "{what}.id must be 1 to {MAX_ACTIVITY_ID_CHARS} characters long (got {chars})"
        )));
    }
    Ok(activity)
}

/// At most 64 user ids, each valid. None at all is fine: there is nothing to do.
pub fn user_ids(user_ids: &[String]) -> Result<&[String], WireError> {
    if user_ids.len() > MAX_USERS_PER_CALL {
        return Err(invalid(format!(
            "user_ids may name at most {MAX_USERS_PER_CALL} users (got {})",
            user_ids.len()
        )));
    }
    for id in user_ids {
        user_id(id)?;
    }
    Ok(user_ids)
}

/// A username as `auth` registered it: 1–64 characters, no control characters. Kept as given.
pub fn username(username: &str) -> Result<&str, WireError> {
    let chars = username.chars().count();
    if chars == 0 || chars > MAX_USERNAME_CHARS {
        return Err(invalid(format!(
            "username must be 1 to {MAX_USERNAME_CHARS} characters long (got {chars})"
        )));
    }
    if username.chars().any(char::is_control) {
        return Err(invalid(
            "username must not contain control characters".to_owned(),
        ));
    }
    Ok(username)
}

/// A display name: trimmed of surrounding white space and put in Unicode normal form C, then
/// 1–32 characters with no control, format or bidirectional control characters. Returns the name
/// as it gets stored.
///
/// Format characters (zero-width spaces and joiners, bidirectional embeddings and overrides) are
/// invisible: names such as `admin\u{202e}gnp.exe` would show other players something else than
/// they are. Normal form C makes one name that looks like another (an é typed as e plus an accent)
/// the same string.
pub fn display_name(display_name: &str) -> Result<String, WireError> {
    let normal: String = display_name.trim().nfc().collect();
    let trimmed = normal.as_str();
    if trimmed.is_empty() {
        return Err(invalid(
            "display_name must not be empty or only white space".to_owned(),
        ));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_DISPLAY_NAME_CHARS {
        return Err(invalid(format!(
            "display_name must be at most {MAX_DISPLAY_NAME_CHARS} characters long (got {chars})"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(
            "display_name must not contain control characters".to_owned(),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.general_category() == GeneralCategory::Format)
    {
        return Err(invalid(
            "display_name must not contain invisible format characters (zero-width or bidirectional controls)"
                .to_owned(),
        ));
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused<T: std::fmt::Debug>(result: Result<T, WireError>) -> String {
        match result {
            Ok(value) => panic!("{value:?} was accepted"),
            Err(error) => {
                assert_eq!(error.code, ErrorCode::InvalidParams);
                error.message
            }
        }
    }

    #[test]
    fn user_ids_are_bounded_in_characters() {
        assert_eq!(user_id("a"), Ok("a"));
        let longest = "é".repeat(MAX_USER_ID_CHARS);
        assert_eq!(user_id(&longest), Ok(longest.as_str()));
        assert!(refused(user_id("")).contains("user_id"));
        assert!(refused(user_id(&"a".repeat(MAX_USER_ID_CHARS + 1))).contains("user_id"));
    }

    #[test]
    fn display_names_are_trimmed_then_bounded() {
        assert_eq!(display_name("  Ann  "), Ok("Ann".to_owned()));
        let longest = "é".repeat(MAX_DISPLAY_NAME_CHARS);
        assert!(
            longest.len() > MAX_DISPLAY_NAME_CHARS,
            "multi-byte on purpose"
        );
        assert_eq!(display_name(&longest), Ok(longest.clone()));
        assert_eq!(display_name(&format!(" {longest}\t")), Ok(longest.clone()));
        assert!(refused(display_name("")).contains("empty"));
        assert!(refused(display_name(" \t\n ")).contains("empty"));
        assert!(refused(display_name(&"x".repeat(33))).contains("at most 32"));
        assert!(refused(display_name(&"é".repeat(33))).contains("(got 33)"));
    }

    #[test]
    fn display_names_refuse_control_characters_inside() {
        for name in ["a\u{0}b", "a\tb", "a\nb", "a\u{7f}b", "a\u{9b}b"] {
            assert!(refused(display_name(name)).contains("control"), "{name:?}");
        }
    }

    #[test]
    fn display_names_refuse_invisible_format_characters() {
        for name in [
            "admin\u{202e}gnp.exe\u{200b}",
            "a\u{200b}b",
            "a\u{200d}b",
            "a\u{2066}b\u{2069}",
            "\u{feff}ann",
            "a\u{00ad}b",
        ] {
            assert!(refused(display_name(name)).contains("format"), "{name:?}");
        }
        // Not every non-ASCII name: letters and emoji of any script are fine.
        assert_eq!(display_name("Zoë 🎲"), Ok("Zoë 🎲".to_owned()));
    }

    #[test]
    fn display_names_are_stored_in_normal_form_c() {
        let decomposed = "Zoe\u{308}";
        assert_eq!(display_name(decomposed), Ok("Zo\u{eb}".to_owned()));
        assert_eq!(display_name(decomposed), display_name("Zoë"));
    }

    #[test]
    fn activity_ids_are_bounded_in_characters() {
        use warren_contracts::activity::ActivityKind;
        let of = |id: &str| Activity::new(ActivityKind::Room, id);
        let refused = |activity: Activity| match super::activity("from", &activity) {
            Ok(activity) => panic!("{activity:?} was accepted"),
            Err(error) => {
                assert_eq!(error.code, ErrorCode::InvalidParams);
                error.message
            }
        };
        let longest = of(&"é".repeat(MAX_ACTIVITY_ID_CHARS));
        assert_eq!(activity("activity", &longest), Ok(&longest));
        assert!(refused(of("")).contains("from.id"));
        assert!(refused(of(&"a".repeat(MAX_ACTIVITY_ID_CHARS + 1))).contains("(got 65)"));
    }

    #[test]
    fn user_id_lists_are_bounded_in_length_and_each_id() {
        let most: Vec<String> = (0..MAX_USERS_PER_CALL).map(|i| format!("u-{i}")).collect();
        assert_eq!(user_ids(&most), Ok(most.as_slice()));
        assert_eq!(user_ids(&[]), Ok(&[][..]));
        let too_many: Vec<String> = (0..=MAX_USERS_PER_CALL).map(|i| format!("u-{i}")).collect();
        let error = user_ids(&too_many).unwrap_err();
        assert!(error.message.contains("at most 64"), "{error:?}");
        let error = user_ids(&["u-1".to_owned(), String::new()]).unwrap_err();
        assert!(error.message.contains("user_id"), "{error:?}");
    }

    #[test]
    fn usernames_are_bounded_and_printable() {
        assert_eq!(username("ann"), Ok("ann"));
        assert!(refused(username("")).contains("username"));
        assert!(refused(username(&"a".repeat(MAX_USERNAME_CHARS + 1))).contains("username"));
        assert!(refused(username("a\u{1}")).contains("control"));
    }
}
