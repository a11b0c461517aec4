/// A domain id: `prefix_` + a UUIDv7 in hex without dashes (time-ordered, 32 hex digits).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
