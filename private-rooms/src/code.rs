//! Invite codes: unguessable, yet easy to read aloud and type on a phone.
//!
//! A code is [`LENGTH`] symbols drawn by a CSPRNG from an alphabet of 30 that leaves out the
//! characters people confuse (`0`/`O`, `1`/`I`/`L`) and `U` (so no accidental words), about 49
//! bits in all. Rooms show it upper case as `XXXXX-XXXXX`; users may type it in any case, with or
//! without dashes and spaces, so lookups go through [`normalise`] first.

use rand::RngExt;

/// The symbols a code is made of.
pub const ALPHABET: &[u8; 30] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";
/// Symbols in a code.
pub const LENGTH: usize = 10;
/// Longest text a caller may send as a code: room for generous separators, no more.
pub const MAX_INPUT_BYTES: usize = 64;

/// A fresh code in its shown form, `XXXXX-XXXXX`.
pub fn generate() -> String {
    // The thread RNG is a CSPRNG seeded from the OS: a code cannot be predicted from others.
    let mut rng = rand::rng();
    let symbols: String = (0..LENGTH)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    display(&symbols)
}

/// The code as typed, reduced to its symbols: upper case, separators (`-`, `_`, spaces) dropped.
/// `None` when what is left cannot be a code (a wrong length or a symbol outside the alphabet).
pub fn normalise(input: &str) -> Option<String> {
    let mut symbols = String::with_capacity(LENGTH);
    for c in input.chars() {
        if c == '-' || c == '_' || c.is_whitespace() {
            continue;
        }
        let c = c.to_ascii_uppercase();
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || symbols.len() == LENGTH {
            return None;
        }
        symbols.push(c);
    }
    (symbols.len() == LENGTH).then_some(symbols)
}

/// The shown form of normalised symbols: two groups of five joined by a dash.
pub fn display(symbols: &str) -> String {
    let (left, right) = symbols.split_at(symbols.len().min(LENGTH / 2));
    format!("{left}-{right}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_two_groups_of_five_readable_symbols() {
        for _ in 0..1000 {
            let code = generate();
            let (left, right) = code.split_once('-').unwrap();
            assert_eq!((left.len(), right.len()), (5, 5), "{code}");
            assert!(
                left.bytes()
                    .chain(right.bytes())
                    .all(|b| ALPHABET.contains(&b)),
                "{code}"
            );
        }
    }

    #[test]
    fn the_alphabet_has_no_look_alikes_and_no_repeats() {
        for confusing in b"01OILU" {
            assert!(!ALPHABET.contains(confusing), "{}", char::from(*confusing));
        }
        let distinct: HashSet<u8> = ALPHABET.iter().copied().collect();
        assert_eq!(distinct.len(), ALPHABET.len());
        // 30^10 is about 2^49: at least 40 bits.
        assert!((ALPHABET.len() as f64).powi(LENGTH as i32).log2() >= 40.0);
    }

    #[test]
    fn codes_do_not_repeat() {
        let codes: HashSet<String> = (0..10_000).map(|_| generate()).collect();
        assert_eq!(codes.len(), 10_000);
    }

    #[test]
    fn every_symbol_turns_up() {
        let seen: HashSet<char> = (0..1000)
            .flat_map(|_| generate().chars().collect::<Vec<_>>())
            .collect();
        assert_eq!(seen.len(), ALPHABET.len() + 1, "the dash and every symbol");
    }

    #[test]
    fn any_case_and_separators_read_the_same() {
        let code = generate();
        let symbols = code.replace('-', "");
        assert_eq!(normalise(&code).as_deref(), Some(symbols.as_str()));
        for spelled in [
            code.to_lowercase(),
            symbols.to_lowercase(),
            code.replace('-', " "),
            format!("  {} ", code.to_lowercase().replace('-', " - ")),
            symbols.chars().map(|c| format!("{c}-")).collect::<String>(),
        ] {
            assert_eq!(
                normalise(&spelled).as_deref(),
                Some(symbols.as_str()),
                "{spelled:?}"
            );
        }
        assert_eq!(display(&symbols), code);
    }

    #[test]
    fn what_cannot_be_a_code_is_refused() {
        for bad in [
            "",
            "-----",
            "ABCDE-FGHJ",
            "ABCDE-FGHJKM",
            "ABCDE-FGHJ0",
            "ABCDE-FGHJO",
            "ABCDE-FGHJ1",
            "ABCDE-FGHJÄ",
            "ABCDE.FGHJK",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }
}
