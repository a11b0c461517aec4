//! Secrets handed to clients: generated at random, stored only as hashes, signed in cookies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// 32 random alphanumerics (≈190 bits), the shape of better-auth's tokens.
pub fn random_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// What the database keeps instead of a token: its SHA-256, hex. Tokens are random and long,
/// so a fast hash is enough; a slow one would only slow every request.
pub fn hash_token(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Every authenticated request hashes its token: no per-byte `format!`.
    Sha256::digest(token.as_bytes())
        .iter()
        .flat_map(|byte| [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]])
        .map(char::from)
        .collect()
}

fn mac(secret: &[u8], token: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(token.as_bytes());
    mac
}

/// The cookie value better-auth writes: `token.base64(HMAC-SHA256(secret, token))`.
pub fn sign(secret: &[u8], token: &str) -> String {
    let signature = STANDARD.encode(mac(secret, token).finalize().into_bytes());
    format!("{token}.{signature}")
}

/// The token inside a signed value, when the signature is right (compared in constant time).
pub fn verify_signed<'a>(secret: &[u8], signed: &'a str) -> Option<&'a str> {
    let (token, signature) = signed.rsplit_once('.')?;
    let signature = STANDARD.decode(signature).ok()?;
    mac(secret, token).verify_slice(&signature).ok()?;
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_verify_and_tampered_ones_do_not() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = random_token();
        assert_eq!(token.len(), 32);
        let signed = sign(secret, &token);
        assert_eq!(verify_signed(secret, &signed), Some(token.as_str()));
        assert_eq!(verify_signed(b"another secret", &signed), None);
        let mut tampered = signed.clone();
        tampered.replace_range(0..1, if signed.starts_with('a') { "b" } else { "a" });
        assert_eq!(verify_signed(secret, &tampered), None);
        assert_eq!(verify_signed(secret, &token), None);
    }

    #[test]
    fn the_hash_is_stable_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash_token("abc"), hash_token("abc"));
        assert_ne!(hash_token("abc"), hash_token("abd"));
    }
}
