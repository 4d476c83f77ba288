//! The worker over TCP (being built).
