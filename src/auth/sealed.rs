//! Secrets the app must keep but never show (a provider's OAuth tokens), sealed at rest with
//! AES-256-GCM under a key derived from `AUTH_SECRET`: a copy of the database alone reveals
//! nothing, and a sealed value moved to another row or column does not open.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Marks the format, so a later key or cipher can be told apart.
const VERSION: &str = "v1";
const NONCE_BYTES: usize = 12;

fn cipher(auth_secret: &SecretString) -> Aes256Gcm {
    let derive = Hkdf::<Sha256>::new(None, auth_secret.expose_secret().as_bytes());
    let mut key = [0u8; 32];
    derive
        .expand(b"orbit sealed secrets v1", &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(key))
}

/// `plaintext` sealed for `context` (what it is and whose: it must be given again to open it).
pub fn seal(auth_secret: &SecretString, context: &str, plaintext: &str) -> String {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    let payload = Payload {
        msg: plaintext.as_bytes(),
        aad: context.as_bytes(),
    };
    let sealed = cipher(auth_secret)
        .encrypt(&Nonce::from(nonce), payload)
        .expect("AES-GCM seals any message this size");
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    format!("{VERSION}:{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The plaintext of a value [`seal`]ed for `context` under this secret; `None` when it was
/// sealed for something else, under another secret, or altered.
pub fn open(auth_secret: &SecretString, context: &str, sealed: &str) -> Option<SecretString> {
    let encoded = sealed.strip_prefix(VERSION)?.strip_prefix(':')?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    if bytes.len() < NONCE_BYTES {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
    let payload = Payload {
        msg: sealed,
        aad: context.as_bytes(),
    };
    let plaintext = cipher(auth_secret)
        .decrypt(&Nonce::from(nonce), payload)
        .ok()?;
    String::from_utf8(plaintext).ok().map(SecretString::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        value.to_owned().into()
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_secret_and_context() {
        let key = secret("one-secret-0123456789abcdef0123456789");
        let sealed = seal(&key, "access_token:acct_1", "gho_token");
        assert!(!sealed.contains("gho_token"));
        let opened = open(&key, "access_token:acct_1", &sealed).unwrap();
        assert_eq!(opened.expose_secret(), "gho_token");
        assert!(open(&key, "access_token:acct_2", &sealed).is_none());
        let other = secret("another-secret-0123456789abcdef012345");
        assert!(open(&other, "access_token:acct_1", &sealed).is_none());
        // Two characters that differ from the last two (one seal in 4,096 ends in `AA`).
        let mut tampered = sealed.clone();
        let other_end = if sealed.ends_with("AA") { "BB" } else { "AA" };
        tampered.replace_range(tampered.len() - 2.., other_end);
        assert!(open(&key, "access_token:acct_1", &tampered).is_none());
        assert_ne!(
            seal(&key, "c", "same"),
            seal(&key, "c", "same"),
            "fresh nonces"
        );
    }
}
