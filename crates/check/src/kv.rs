//! The 6.824 key/value service as a [`Model`]: `Get`, `Put` and `Append` on string keys.

use crate::model::{Model, Step};

/// A key/value request, as the clerk sent it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Read a key; a missing key reads as `""` (6.824's `ErrNoKey` reply carries `""`).
    Get {
        /// The key to read.
        key: String,
    },
    /// Overwrite a key.
    Put {
        /// The key to write.
        key: String,
        /// The new value.
        value: String,
    },
    /// Append to a key's value; a missing key is created as if it held `""`.
    Append {
        /// The key to append to.
        key: String,
        /// The suffix to append.
        value: String,
    },
}

impl KvInput {
    /// `Get(key)`.
    pub fn get(key: impl Into<String>) -> Self {
        Self::Get { key: key.into() }
    }

    /// `Put(key, value)`.
    pub fn put(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    /// `Append(key, value)`.
    pub fn append(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    /// The key the request touches.
    pub fn key(&self) -> &str {
        match self {
            Self::Get { key } | Self::Put { key, .. } | Self::Append { key, .. } => key,
        }
    }
}

/// A key/value reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// The value a `Get` returned.
    Value(String),
    /// A `Put` or `Append` succeeded.
    Ok,
}

impl KvOutput {
    /// `Value(value)`.
    pub fn value(value: impl Into<String>) -> Self {
        Self::Value(value.into())
    }
}

/// The sequential key/value store. Partitions by key; the state of a partition is the value of
/// its key (`""` if missing, which a `Get` cannot tell apart from an empty value).
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl Model for KvModel {
    type State = String;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: Option<&KvOutput>) -> Step<String> {
        match (input, output) {
            (KvInput::Get { .. }, None) => Step::Unchanged,
            (KvInput::Get { .. }, Some(KvOutput::Value(seen))) if seen == state => Step::Unchanged,
            (KvInput::Put { value, .. }, None | Some(KvOutput::Ok)) => Step::Next(value.clone()),
            (KvInput::Append { value, .. }, None | Some(KvOutput::Ok)) => {
                let mut next = String::with_capacity(state.len() + value.len());
                next.push_str(state);
                next.push_str(value);
                Step::Next(next)
            }
            // A read of another value, or a reply of the wrong kind.
            _ => Step::Illegal,
        }
    }

    fn partition(&self, input: &KvInput) -> String {
        input.key().to_owned()
    }

    fn is_read_only(&self, input: &KvInput) -> bool {
        matches!(input, KvInput::Get { .. })
    }

    fn may_reset(&self, input: &KvInput) -> bool {
        matches!(input, KvInput::Put { .. })
    }

    /// Appends only extend a value, so a later Get must see the current value as a prefix.
    fn may_grow_into(&self, state: &String, input: &KvInput, output: &KvOutput) -> bool {
        match (input, output) {
            (KvInput::Get { .. }, KvOutput::Value(seen)) => seen.starts_with(state.as_str()),
            _ => true,
        }
    }

    fn describe(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        let call = match input {
            KvInput::Get { key } => format!("Get({key:?})"),
            KvInput::Put { key, value } => format!("Put({key:?},{value:?})"),
            KvInput::Append { key, value } => format!("Append({key:?},{value:?})"),
        };
        match output {
            None => format!("{call} -> (no reply)"),
            Some(KvOutput::Ok) => format!("{call} -> ok"),
            Some(KvOutput::Value(value)) => format!("{call} -> {value:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(state: &str, input: KvInput, output: Option<KvOutput>) -> Step<String> {
        KvModel.step(&state.to_owned(), &input, output.as_ref())
    }

    #[test]
    fn get_must_return_the_current_value() {
        assert_eq!(
            step("x", KvInput::get("k"), Some(KvOutput::value("x"))),
            Step::Unchanged
        );
        assert_eq!(
            step("x", KvInput::get("k"), Some(KvOutput::value("y"))),
            Step::Illegal
        );
        assert_eq!(
            step("", KvInput::get("k"), Some(KvOutput::value(""))),
            Step::Unchanged
        );
        assert_eq!(
            step("x", KvInput::get("k"), Some(KvOutput::Ok)),
            Step::Illegal
        );
        assert_eq!(step("x", KvInput::get("k"), None), Step::Unchanged);
    }

    #[test]
    fn put_overwrites_and_append_extends() {
        let put = step("x", KvInput::put("k", "y"), Some(KvOutput::Ok));
        assert_eq!(put, Step::Next("y".to_owned()));
        let append = step("x", KvInput::append("k", "y"), None);
        assert_eq!(append, Step::Next("xy".to_owned()));
        let created = step("", KvInput::append("k", "y"), Some(KvOutput::Ok));
        assert_eq!(created, Step::Next("y".to_owned()));
        let wrong = step("", KvInput::put("k", "y"), Some(KvOutput::value("y")));
        assert_eq!(wrong, Step::Illegal);
    }

    #[test]
    fn describe_quotes_keys_and_values() {
        let model = KvModel;
        let get = model.describe(&KvInput::get("k"), Some(&KvOutput::value("v")));
        assert_eq!(get, r#"Get("k") -> "v""#);
        let append = model.describe(&KvInput::append("k", "x"), Some(&KvOutput::Ok));
        assert_eq!(append, r#"Append("k","x") -> ok"#);
        let pending = model.describe(&KvInput::put("k", "x"), None);
        assert_eq!(pending, r#"Put("k","x") -> (no reply)"#);
    }
}
