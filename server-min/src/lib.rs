//! AssistRTC reference server: signaling relay and room API.
//!
//! - [`jwt`]: HS256 join tokens.
//! - [`store`]: room definitions behind the [`store::RoomStore`] trait.
//! - [`hub`]: rooms, seats and relay as a sans-IO state machine.

pub mod hub;
pub mod jwt;
pub mod store;
