//! `dsys kv`: a kvpaxos replica process and a client. (Being written: issue 5, part 3.)
