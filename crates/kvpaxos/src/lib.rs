//! kvpaxos: being built (issue 5).
