//! The bearer token format and its constant-time check.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "pvx_";

/// A token split into its public id and its secret; parsing never touches the database.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyToken {
    pub id: String,
    secret: String,
}

impl std::fmt::Debug for KeyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl KeyToken {
    /// A fresh random token: a 16-hex-digit id and a 64-hex-digit (256-bit) secret.
    pub fn generate() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
        // Two v4 UUIDs carry 244 random bits, from the OS generator.
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Self { id, secret }
    }

    /// Parses `pvx_<id>_<secret>`; `None` for anything else (the caller answers 401).
    pub fn parse(token: &str) -> Option<Self> {
        let rest = token.strip_prefix(TOKEN_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex(id, 16) && hex(secret, 64)).then(|| Self {
            id: id.to_ascii_lowercase(),
            secret: secret.to_ascii_lowercase(),
        })
    }

    /// The full token, as handed to the client once.
    pub fn expose(&self) -> String {
        format!("{TOKEN_PREFIX}{}_{}", self.id, self.secret)
    }

    /// Lowercase hex SHA-256 of the secret: what the database stores.
    pub fn secret_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    /// Whether this token's secret hashes to `stored` (hex), compared in constant time.
    pub fn matches(&self, stored: &str) -> bool {
        let mine = self.secret_sha256();
        mine.len() == stored.len() && bool::from(mine.as_bytes().ct_eq(stored.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_roundtrip_and_match_only_their_hash() {
        let t = KeyToken::generate();
        let s = t.expose();
        assert!(s.starts_with("pvx_") && s.len() == 4 + 16 + 1 + 64, "{s}");
        let back = KeyToken::parse(&s).expect("parses");
        assert_eq!(back, t);
        assert!(back.matches(&t.secret_sha256()));
        let other = KeyToken::generate();
        assert!(!other.matches(&t.secret_sha256()));
        assert_ne!(other.id, t.id);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let good = KeyToken::generate().expose();
        for bad in [
            "",
            "pvx_",
            "sk-abc",
            &good[..good.len() - 1],
            &format!("{good}0"),
            &good.replace("pvx_", "pvy_"),
            &format!("pvx_{}_{}", "g".repeat(16), "0".repeat(64)),
            &format!("pvx_{}{}", "0".repeat(16), "0".repeat(64)),
        ] {
            assert!(KeyToken::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let t = KeyToken::generate();
        let dbg = format!("{t:?}");
        assert!(dbg.contains(&t.id) && !dbg.contains(&t.secret));
    }
}
