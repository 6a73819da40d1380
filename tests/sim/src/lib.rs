//! A deterministic world for calls: [`assistrtc_core::call::Call`]s talk to the REAL server
//! [`Hub`](assistrtc_server::hub::Hub) (both are sans-IO) over a simulated network with seeded
//! loss, delay, reordering and duplication of signaling frames, on one virtual clock. Peer
//! links are [`FakePeer`]s that follow the browser's signaling-state rules strictly and model
//! what matters to the call: negotiated data sections, DataChannels (including channels left
//! dead by rolling back the offer that added them), ICE connectivity and remote tracks.
//!
//! Nothing sleeps; [`World::run_until`] advances to the next timer when idle and panics on a
//! livelock or a passed deadline instead of hanging.

mod net;
mod peer;
mod world;

pub use net::Netem;
pub use peer::FakePeer;
pub use world::{Client, Mode, World, id};
