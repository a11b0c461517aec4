use std::collections::HashMap;
use std::sync::Mutex;

/// Bounds the memory a stream of sign-in requests can take in development.
const MAX_ADDRESSES: usize = 1_000;

/// The last magic link sent to each address (development and test only), so a developer or
/// an end-to-end test can sign in without a mailbox.
#[derive(Default)]
pub struct LastMagicLinks {
    links: Mutex<HashMap<String, String>>,
}

impl LastMagicLinks {
    pub fn record(&self, email: &str, link: String) {
        let mut links = self.links.lock().expect("never poisoned");
        if links.len() >= MAX_ADDRESSES && !links.contains_key(email) {
            links.clear();
        }
        links.insert(email.to_owned(), link);
    }

    pub fn last_for(&self, email: &str) -> Option<String> {
        self.links
            .lock()
            .expect("never poisoned")
            .get(email)
            .cloned()
    }
}
