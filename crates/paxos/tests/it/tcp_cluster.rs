//! TCP tests (next).
