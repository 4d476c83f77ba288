//! Redis's glob patterns (KEYS, SCAN MATCH): `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.

/// True if `text` matches the glob `pattern`, as Redis's `stringmatchlen` decides (case
/// sensitive).
///
/// Linear backtracking on the last `*` only, so the cost is O(pattern × text) in the worst
/// case, never exponential: a key pattern is client input.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: the pattern just past it, and the text position it
    // has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if let Some(next) = step(pattern, p, text[t]) {
            match next {
                Step::Star => {
                    star = Some((p + 1, t));
                    p += 1;
                }
                Step::Matched(after) => {
                    p = after;
                    t += 1;
                }
            }
            continue;
        }
        match star {
            // Let the last `*` swallow one more byte and retry from just past it.
            Some((after_star, swallowed)) => {
                star = Some((after_star, swallowed + 1));
                p = after_star;
                t = swallowed + 1;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What the pattern element at `p` does with the text byte `c`.
enum Step {
    /// A `*`: may match any run of bytes.
    Star,
    /// The element matched `c`; the next element starts here.
    Matched(usize),
}

/// Matches one pattern element against byte `c`; `None` on a mismatch or the pattern's end.
fn step(pattern: &[u8], p: usize, c: u8) -> Option<Step> {
    match *pattern.get(p)? {
        b'*' => Some(Step::Star),
        b'?' => Some(Step::Matched(p + 1)),
        b'[' => {
            let (matched, after) = class(pattern, p + 1, c);
            matched.then_some(Step::Matched(after))
        }
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c).then_some(Step::Matched(p + 2)),
        literal => (literal == c).then_some(Step::Matched(p + 1)),
    }
}

/// Matches `c` against the class starting at `p` (just past `[`); returns whether it matched
/// and where the pattern continues. An unterminated class runs to the pattern's end, as in
/// Redis.
fn class(pattern: &[u8], mut p: usize, c: u8) -> (bool, usize) {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    while p < pattern.len() && pattern[p] != b']' {
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            matched |= pattern[p + 1] == c;
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' && pattern[p + 2] != b']' {
            let (low, high) = (
                pattern[p].min(pattern[p + 2]),
                pattern[p].max(pattern[p + 2]),
            );
            matched |= (low..=high).contains(&c);
            p += 3;
        } else {
            matched |= pattern[p] == c;
            p += 1;
        }
    }
    // Past the `]` (or at the end of an unterminated class).
    let after = (p + 1).min(pattern.len());
    (matched != negate, after)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn matches_as_redis_does() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("user:*:name", "user:42:name", true),
            ("user:*:name", "user:42:mail", false),
            ("a*b*c", "abxbxc", true),
            ("a*b*c", "abxbx", false),
            ("[abc", "b", true),
            ("", "", true),
            ("", "a", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(
                glob_match(pattern.as_bytes(), text.as_bytes()),
                *want,
                "{pattern:?} against {text:?}"
            );
        }
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(2000);
        assert!(!glob_match(pattern.as_bytes(), text.as_bytes()));
    }
}
