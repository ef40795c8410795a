//! Observability edge: metric names ([`metrics`]) and the HTTP server ([`server`]).
pub mod metrics;
pub mod server;
