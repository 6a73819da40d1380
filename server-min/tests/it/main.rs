//! Integration tests: the server in-process, real WebSocket and HTTP clients.
