pub mod magic_link;
pub mod sessions;
