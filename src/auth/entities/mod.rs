pub mod account;
pub mod session;
pub mod user;
pub mod verification;
