//! The TCP shell of a replica: `dsys kv serve`. (Being written: issue 5, part 3.)
