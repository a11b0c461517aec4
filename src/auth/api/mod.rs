pub mod account;
pub mod admin;
pub mod email_password;
pub mod magic_link;
pub mod password;
pub mod sessions;
pub mod social;
