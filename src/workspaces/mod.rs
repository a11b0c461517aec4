//! Workspaces: tenants with members, roles (system and custom) and invitations. Every route
//! resolves the caller's membership first, so one workspace never sees another's data.

pub mod access;
pub mod api;
pub mod dto;
pub mod entities;
pub mod events;
pub mod invites;
pub mod members;
pub mod permissions;
pub mod roles;
pub mod service;
