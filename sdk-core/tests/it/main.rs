//! Sessions driven through an in-memory signaling server with virtual time.
mod harness;
mod negotiation;
mod reconnect;
mod rules;
