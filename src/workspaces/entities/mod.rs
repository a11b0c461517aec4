pub mod invite;
pub mod member;
pub mod role;
pub mod workspace;
