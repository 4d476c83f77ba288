//! TCP shell (next).
