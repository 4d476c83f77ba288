//! Integration tests of the TCP transport and runtime, one binary (STYLE 2.9).
//!
//! Every test runs real sockets on `127.0.0.1:0`, never sleeps to wait for something (it awaits
//! the condition itself, e.g. a request the toy core answers only once the condition holds) and
//! is bounded by a `tokio::time::timeout` guard, so a bug fails a test instead of hanging it.

mod by_address;
mod codec_props;
mod common;
mod disk;
mod garbage;
mod reconnect;
mod routing;
mod runner;
mod timeouts;
