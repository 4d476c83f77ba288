//! `dsys`: the one command-line binary.
fn main() {}
