//! Integration tests: the server in-process on 127.0.0.1:0, real WebSocket (tokio-tungstenite)
//! and HTTP (reqwest) clients. Every wait is bounded by [`support::within`]; nothing sleeps.

mod cli;
mod rest;
mod resume;
mod signal;
mod support;
