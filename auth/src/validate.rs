//! The rules for usernames and passwords, checked before anything is stored or hashed.

/// Shortest and longest username, in characters.
pub const USERNAME_LENGTH: std::ops::RangeInclusive<usize> = 3..=32;
/// Shortest and longest password, in characters.
pub const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 8..=256;

/// Why a username or password is refused; the message is meant for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("username must be 3 to 32 characters long")]
    UsernameLength,
    #[error("username may contain only ASCII letters, digits, '_' and '-'")]
    UsernameCharacters,
    #[error("password must be 8 to 256 characters long")]
    PasswordLength,
}

/// 3–32 characters of ASCII letters, digits, `_` and `-`.
pub fn username(name: &str) -> Result<(), Invalid> {
    // Every allowed character is one byte, so a byte count bounds the work on long input.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Invalid::UsernameCharacters);
    }
    if !USERNAME_LENGTH.contains(&name.len()) {
        return Err(Invalid::UsernameLength);
    }
    Ok(())
}

/// 8–256 characters (Unicode scalar values, not bytes).
pub fn password(password: &str) -> Result<(), Invalid> {
    // More than 4 bytes per character is impossible, so a very long input is refused uncounted.
    if password.len() > PASSWORD_LENGTH.end() * 4 {
        return Err(Invalid::PasswordLength);
    }
    if !PASSWORD_LENGTH.contains(&password.chars().count()) {
        return Err(Invalid::PasswordLength);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        for good in ["abc", "Alice_01", "a-b-c", &"x".repeat(32)] {
            assert_eq!(username(good), Ok(()), "{good}");
        }
        assert_eq!(username(""), Err(Invalid::UsernameLength));
        assert_eq!(username("ab"), Err(Invalid::UsernameLength));
        assert_eq!(username(&"x".repeat(33)), Err(Invalid::UsernameLength));
        for bad in ["has space", "dot.ted", "émile", "tab\tx", "semi;colon"] {
            assert_eq!(username(bad), Err(Invalid::UsernameCharacters), "{bad}");
        }
    }

    #[test]
    fn passwords_are_counted_in_characters() {
        assert_eq!(password("12345678"), Ok(()));
        assert_eq!(password("1234567"), Err(Invalid::PasswordLength));
        assert_eq!(
            password(&"é".repeat(256)),
            Ok(()),
            "512 bytes, 256 characters"
        );
        assert_eq!(password(&"é".repeat(257)), Err(Invalid::PasswordLength));
        assert_eq!(password(&"x".repeat(10_000)), Err(Invalid::PasswordLength));
        assert_eq!(password("ééé"), Err(Invalid::PasswordLength));
    }
}
