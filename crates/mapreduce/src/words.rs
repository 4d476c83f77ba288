//! Word splitting (SPEC §2.3): a word is a maximal run of Unicode letters (`char::is_alphabetic`),
//! case-sensitive. ASCII bytes take a table lookup; only non-ASCII bytes are decoded as UTF-8.
//! Bytes that are not valid UTF-8 (a binary file) are non-letters, so any input is accepted.

/// Calls `f` with every word of `text`, in order, as a sub-slice of `text`.
#[inline]
pub fn for_each_word<'a>(text: &'a [u8], mut f: impl FnMut(&'a [u8])) {
    let n = text.len();
    let mut i = 0;
    loop {
        // Skip to the first letter. `is_ascii_alphabetic` is two compares, no table load.
        while i < n {
            let byte = text[i];
            if byte.is_ascii_alphabetic() {
                break;
            }
            if byte < 0x80 {
                i += 1;
                continue;
            }
            match decode_letter(&text[i..]) {
                (true, _) => break,
                (false, len) => i += len,
            }
        }
        if i >= n {
            return;
        }
        let start = i;
        // Take letters.
        while i < n {
            let byte = text[i];
            if byte.is_ascii_alphabetic() {
                i += 1;
                continue;
            }
            if byte < 0x80 {
                break;
            }
            match decode_letter(&text[i..]) {
                (true, len) => i += len,
                (false, _) => break,
            }
        }
        f(&text[start..i]);
    }
}

/// Decodes the non-ASCII character at the front of `rest`: whether it is a letter, and its length
/// in bytes (1 for a byte that does not start valid UTF-8).
#[inline]
fn decode_letter(rest: &[u8]) -> (bool, usize) {
    // Two-byte sequences (Latin, Greek, Cyrillic, Hebrew, Arabic...) take a bitmap lookup:
    // `char::is_alphabetic` searches Unicode tables, which costs more than the whole ASCII path.
    if let [lead @ 0xC2..=0xDF, cont @ 0x80..=0xBF, ..] = *rest {
        let cp = (u32::from(lead & 0x1F) << 6) | u32::from(cont & 0x3F);
        let bits = two_byte_letters();
        return ((bits[(cp >> 6) as usize] >> (cp & 63)) & 1 == 1, 2);
    }
    let len = match rest[0] {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (false, 1),
    };
    let Some(bytes) = rest.get(..len) else {
        return (false, 1);
    };
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.chars().next().is_some_and(char::is_alphabetic), len),
        Err(_) => (false, 1),
    }
}

/// Which code points below U+0800 are letters, one bit each.
fn two_byte_letters() -> &'static [u64; 32] {
    static BITS: std::sync::OnceLock<[u64; 32]> = std::sync::OnceLock::new();
    BITS.get_or_init(|| {
        let mut bits = [0u64; 32];
        for cp in 0x80u32..0x800 {
            if char::from_u32(cp).is_some_and(char::is_alphabetic) {
                bits[(cp >> 6) as usize] |= 1 << (cp & 63);
            }
        }
        bits
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for_each_word(text.as_bytes(), |w| {
            out.push(std::str::from_utf8(w).expect("words of valid UTF-8 are UTF-8"))
        });
        out
    }

    #[test]
    fn splits_on_every_non_letter() {
        assert_eq!(
            words("In the beginning, God's"),
            ["In", "the", "beginning", "God", "s"]
        );
        assert_eq!(words("1:1 a1b--c"), ["a", "b", "c"]);
        assert_eq!(words(""), Vec::<&str>::new());
        assert_eq!(words("  "), Vec::<&str>::new());
    }

    #[test]
    fn non_ascii_letters_are_letters() {
        assert_eq!(
            words("Élan vital; naïve–café Ωμέγα 東京"),
            ["Élan", "vital", "naïve", "café", "Ωμέγα", "東京"]
        );
        // U+2013 (en dash) and U+00A0 (no-break space) are not letters.
        assert_eq!(words("a\u{a0}b\u{2013}c"), ["a", "b", "c"]);
    }

    /// The bitmap agrees with `char::is_alphabetic` on every two-byte code point.
    #[test]
    fn two_byte_table_matches_std() {
        for cp in 0x80u32..0x800 {
            let c = char::from_u32(cp).expect("no surrogates below U+0800");
            let mut buf = [0u8; 4];
            let (letter, len) = decode_letter(c.encode_utf8(&mut buf).as_bytes());
            assert_eq!((letter, len), (c.is_alphabetic(), 2), "U+{cp:04X}");
        }
    }

    #[test]
    fn invalid_utf8_is_a_separator() {
        let mut out = Vec::new();
        for_each_word(b"ab\xffcd\xc3", |w| out.push(w.to_vec()));
        assert_eq!(out, [b"ab".to_vec(), b"cd".to_vec()]);
    }
}
