pub mod account;
pub mod dev_magic_link;
pub mod session;
pub mod user;
pub mod verification;
