//! The master over TCP (being built).
