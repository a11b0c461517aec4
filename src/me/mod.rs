//! The signed-in user's own profile and preferences.

pub mod api;
