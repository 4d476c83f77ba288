//! paxos (in progress).
