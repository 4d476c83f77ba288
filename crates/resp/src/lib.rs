//! resp: being built (issue 5).
