//! Which reduce task a key belongs to: FNV-1a 32 of the key, modulo the number of reduce tasks
//! (SPEC §2.1, `ihash` of the Go skeleton).

/// FNV-1a, 32 bits.
pub fn fnv1a32(key: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in key {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The reduce partition of `key` among `reduces` partitions.
///
/// # Panics
/// If `reduces` is zero.
pub fn partition_of(key: &[u8], reduces: u32) -> u32 {
    assert!(reduces > 0, "at least one reduce partition");
    fnv1a32(key) % reduces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }
}
