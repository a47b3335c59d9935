//! The user identity a token names, and the rules Twilio puts on it.
//!
//! Twilio's SDKs identify a user by the token's `identity`. It must be present for
//! Chat/Conversations, Video, Voice and Sync, it must not be empty, and control
//! characters break clients in ways that are hard to trace. Invisible format characters
//! (Unicode category Cf: zero-width spaces, bidirectional overrides such as U+202E) and
//! the line and paragraph separators are refused too: they make two identities look
//! alike, or one look like another, in every list and log that shows them. The one
//! exception is a zero-width joiner inside an emoji sequence (`👩‍💻`). Voice is stricter still:
//! only ASCII letters, digits and `_`, at most 121 of them. Twilio also advises against
//! a set of URL-reserved characters; that check is opt-in ([`IdentityRules::strict`]).

/// The most characters a Voice identity may have.
pub const VOICE_IDENTITY_MAX: usize = 121;

/// The characters Twilio advises against in an identity (checked only in strict mode).
pub const RESERVED_CHARACTERS: &str = "!*'();:@&=+$,/?%#[]";

/// Why an identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The identity is the empty string.
    #[error("identity is empty; give each user a stable, non-empty identity such as a user id")]
    Empty,
    /// The identity holds a control character (U+0000..U+001F, U+007F..U+009F).
    #[error(
        "identity contains a control character (U+{code:04X}) at character {position}; remove control characters such as newlines and tabs"
    )]
    ControlCharacter {
        /// The code point of the offending character.
        code: u32,
        /// Its position, counted in characters from 0.
        position: usize,
    },
    /// The identity holds an invisible format character (Unicode category Cf, such as
    /// U+200B or U+202E) or a line or paragraph separator (U+2028, U+2029).
    #[error(
        "identity contains the invisible character U+{code:04X} at character {position}; remove format characters such as zero-width spaces and direction overrides"
    )]
    FormatCharacter {
        /// The code point of the offending character.
        code: u32,
        /// Its position, counted in characters from 0.
        position: usize,
    },
    /// With a Voice grant the identity must match `[A-Za-z0-9_]{1,121}`.
    #[error(
        "identity is not valid for Voice: it must be 1 to 121 ASCII letters, digits or underscores ({reason})"
    )]
    InvalidForVoice {
        /// What exactly is wrong.
        reason: String,
    },
    /// Strict mode: the identity holds a character Twilio advises against.
    #[error(
        "identity contains '{character}', which Twilio advises against in identities (reserved: {RESERVED_CHARACTERS}); \
         choose another character or turn strict identity checks off"
    )]
    ReservedCharacter {
        /// The reserved character found.
        character: char,
    },
}

/// Which identity checks apply beyond the ones that are always made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityRules {
    /// Refuse Twilio's reserved characters (`! * ' ( ) ; : @ & = + $ , / ? % # [ ]`).
    pub strict: bool,
    /// Apply the Voice rule `[A-Za-z0-9_]{1,121}`.
    pub voice: bool,
}

impl IdentityRules {
    /// The rules every identity must pass: non-empty, no control character.
    pub const fn basic() -> Self {
        Self {
            strict: false,
            voice: false,
        }
    }

    /// Also refuse Twilio's reserved characters.
    pub const fn strict() -> Self {
        Self {
            strict: true,
            voice: false,
        }
    }

    /// Checks `identity` against these rules.
    pub fn check(&self, identity: &str) -> Result<(), IdentityError> {
        if identity.is_empty() {
            return Err(IdentityError::Empty);
        }
        // Printable ASCII holds no control or format character: only identities with
        // other characters need the walk.
        if !identity.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            refuse_invisible(identity)?;
        }
        if self.voice {
            let count = identity.chars().count();
            if count > VOICE_IDENTITY_MAX {
                return Err(IdentityError::InvalidForVoice {
                    reason: format!("it has {count} characters"),
                });
            }
            if let Some(c) = identity
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
            {
                return Err(IdentityError::InvalidForVoice {
                    reason: format!("it contains {c:?}"),
                });
            }
        }
        if self.strict
            && let Some(character) = identity.chars().find(|c| RESERVED_CHARACTERS.contains(*c))
        {
            return Err(IdentityError::ReservedCharacter { character });
        }
        Ok(())
    }
}

/// Refuses a control character, or a format character other than a zero-width joiner
/// inside an emoji sequence.
fn refuse_invisible(identity: &str) -> Result<(), IdentityError> {
    let mut previous = None;
    let mut chars = identity.chars().enumerate().peekable();
    while let Some((position, c)) = chars.next() {
        if c.is_control() {
            return Err(IdentityError::ControlCharacter {
                code: c as u32,
                position,
            });
        }
        if is_format(c) {
            let next = chars.peek().map(|(_, n)| *n);
            let joins_emoji = c == ZWJ
                && previous.is_some_and(|p| is_pictographic(p) || p == VS16)
                && next.is_some_and(is_pictographic);
            if !joins_emoji {
                return Err(IdentityError::FormatCharacter {
                    code: c as u32,
                    position,
                });
            }
        }
        previous = Some(c);
    }
    Ok(())
}

const ZWJ: char = '\u{200D}';
const VS16: char = '\u{FE0F}';

/// Unicode's format characters (general category Cf, Unicode 16), plus the line and
/// paragraph separators (Zl, Zp), as inclusive ranges.
const FORMAT_CHARACTERS: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

fn is_format(c: char) -> bool {
    let c = c as u32;
    FORMAT_CHARACTERS
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
}

/// Symbols and pictographs that emoji sequences join (arrows to dingbats, and the
/// supplementary emoji blocks).
fn is_pictographic(c: char) -> bool {
    matches!(c as u32, 0x2190..=0x2BFF | 0x1F000..=0x1FAFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_rules() {
        assert_eq!(
            IdentityRules::basic().check("").unwrap_err(),
            IdentityError::Empty
        );
        assert_eq!(
            IdentityRules::basic().check("al\nice").unwrap_err(),
            IdentityError::ControlCharacter {
                code: 10,
                position: 2
            }
        );
        assert!(matches!(
            IdentityRules::basic().check("a\u{85}").unwrap_err(),
            IdentityError::ControlCharacter { code: 0x85, .. }
        ));
        assert!(IdentityRules::basic().check("alice@example.com").is_ok());
        assert!(IdentityRules::basic().check("Zoë 🦀").is_ok());
    }

    #[test]
    fn every_ascii_control_character_is_refused_and_every_printable_one_passes() {
        for b in (0u8..0x20).chain([0x7f]) {
            assert_eq!(
                IdentityRules::basic().check(&format!("a{}", char::from(b))),
                Err(IdentityError::ControlCharacter {
                    code: u32::from(b),
                    position: 1
                }),
                "{b:#04x}"
            );
        }
        let printable: String = (0x20u8..0x7f).map(char::from).collect();
        assert!(IdentityRules::basic().check(&printable).is_ok());
    }

    #[test]
    fn voice_rule() {
        let voice = IdentityRules {
            voice: true,
            strict: false,
        };
        assert!(voice.check("alice_01").is_ok());
        assert!(voice.check(&"a".repeat(121)).is_ok());
        assert!(matches!(
            voice.check(&"a".repeat(122)),
            Err(IdentityError::InvalidForVoice { .. })
        ));
        assert!(matches!(
            voice.check("alice@example.com"),
            Err(IdentityError::InvalidForVoice { .. })
        ));
        assert!(matches!(
            voice.check("zoë"),
            Err(IdentityError::InvalidForVoice { .. })
        ));
    }

    #[test]
    fn strict_rule_is_opt_in() {
        assert!(IdentityRules::basic().check("a@b").is_ok());
        assert_eq!(
            IdentityRules::strict().check("a@b"),
            Err(IdentityError::ReservedCharacter { character: '@' })
        );
        for c in RESERVED_CHARACTERS.chars() {
            assert!(IdentityRules::strict().check(&format!("x{c}")).is_err());
        }
        assert!(IdentityRules::strict().check("alice.smith-1_x").is_ok());
    }

    #[test]
    fn invisible_characters_are_refused() {
        let rules = IdentityRules::basic();
        for (identity, code) in [
            ("admin\u{202E}txt", 0x202E),
            ("al\u{200B}ice", 0x200B),
            ("\u{FEFF}alice", 0xFEFF),
            ("alice\u{2028}", 0x2028),
            ("bob\u{2029}x", 0x2029),
            ("ad\u{200D}min", 0x200D),
            ("\u{200D}\u{1F4BB}", 0x200D),
            ("soft\u{00AD}hyphen", 0x00AD),
            ("tag\u{E0041}", 0xE0041),
            ("\u{2066}isolate", 0x2066),
        ] {
            assert!(
                matches!(
                    rules.check(identity),
                    Err(IdentityError::FormatCharacter { code: c, .. }) if c == code
                ),
                "{identity:?}"
            );
        }
        for fine in [
            "emoji \u{1F469}\u{200D}\u{1F4BB} zwj",
            "\u{1F469}\u{200D}\u{2764}\u{FE0F}\u{200D}\u{1F468}",
            "Zo\u{eb} \u{1F980}",
            "\u{65e5}\u{672c}",
        ] {
            assert_eq!(rules.check(fine), Ok(()), "{fine:?}");
        }
    }
}
