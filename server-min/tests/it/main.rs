//! Integration tests: the server in-process on 127.0.0.1:0, real WebSocket (tokio-tungstenite)
//! and HTTP (reqwest) clients. The server runs on a virtual clock the tests advance
//! ([`support::TestClock`]), so no test waits for time to pass; every wait for a socket is
//! bounded by [`support::within`], and nothing sleeps, except `turn`'s short polls while a
//! real coturn process starts.

mod cli;
mod metrics;
mod probe;
mod recording;
mod rest;
mod resume;
mod session;
mod signal;
mod state;
mod stun;
mod support;
mod transport;
mod turn;
mod turn_client;
