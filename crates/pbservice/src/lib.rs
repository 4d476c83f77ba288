//! pbservice: being built (issue 3/4).
