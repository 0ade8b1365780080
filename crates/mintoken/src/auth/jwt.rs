//! HS256 access tokens with Supabase's claim layout (`sub`, `email`,
//! `role: "authenticated"`, `aud: "authenticated"`, `exp`, `iat`, `session_id`), so a
//! deployment may share the secret of an existing Supabase project and accept its
//! tokens. Written on ring's HMAC: the format is small and this avoids a second crypto
//! stack.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use serde::{Deserialize, Serialize};

pub const AUDIENCE: &str = "authenticated";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub role: String,
    pub aud: Audience,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// `aud` may be a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(all) => all.iter().any(|a| a == aud),
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token algorithm (HS256 expected)")]
    Algorithm,
    #[error("bad token signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token audience is not \"authenticated\"")]
    Audience,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

pub struct JwtKeys {
    key: hmac::Key,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        JwtKeys { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        // Serializing plain strings and integers cannot fail.
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let tag = hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(tag.as_ref()))
    }

    /// Checks algorithm, signature (constant time), expiry and audience.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Claims, JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed);
        };
        let header: Header = serde_json::from_slice(&B64.decode(h).map_err(|_| JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
        if header.alg != "HS256" {
            return Err(JwtError::Algorithm);
        }
        let signature = B64.decode(s).map_err(|_| JwtError::Malformed)?;
        let signing_input = &token[..h.len() + 1 + p.len()];
        hmac::verify(&self.key, signing_input.as_bytes(), &signature).map_err(|_| JwtError::Signature)?;
        let claims: Claims = serde_json::from_slice(&B64.decode(p).map_err(|_| JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
        if claims.exp <= now_secs {
            return Err(JwtError::Expired);
        }
        if !claims.aud.contains(AUDIENCE) {
            return Err(JwtError::Audience);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "u1".into(),
            email: "a@b.c".into(),
            role: "authenticated".into(),
            aud: Audience::One(AUDIENCE.into()),
            exp,
            iat: 0,
            session_id: Some("s1".into()),
            iss: None,
        }
    }

    #[test]
    fn round_trips_and_rejects_tampering() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let token = keys.sign(&claims(100));
        assert_eq!(keys.verify(&token, 50).unwrap(), claims(100));
        assert_eq!(keys.verify(&token, 100), Err(JwtError::Expired));
        let other = JwtKeys::new(b"another secret another secret !!");
        assert_eq!(other.verify(&token, 50), Err(JwtError::Signature));
        let mut forged = token.clone();
        forged.push('x');
        assert!(keys.verify(&forged, 50).is_err());
        assert_eq!(keys.verify("a.b", 50), Err(JwtError::Malformed));
    }

    #[test]
    fn refuses_alg_none() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let token = keys.sign(&claims(100));
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", B64.encode(br#"{"alg":"none"}"#));
        assert_eq!(keys.verify(&none, 50), Err(JwtError::Algorithm));
    }
}
