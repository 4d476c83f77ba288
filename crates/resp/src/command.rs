//! The commands the Redis front door understands.

use crate::reply::Reply;
use bytes::Bytes;

/// A client command, recognised from its arguments.
///
/// Names match case-insensitively, as in Redis. Keys and values are binary-safe [`Bytes`].
/// Commands the server cannot run are still values (`Unknown`, `WrongArity`), because Redis
/// answers them with an error reply and keeps the connection open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `GET key`: reply with the value as a bulk string, or a null bulk if absent.
    Get {
        /// The key to read.
        key: Bytes,
    },
    /// `SET key value`: reply `+OK`. Options (`EX`, `NX`, ...) are not supported and make the
    /// command `WrongArity`.
    Set {
        /// The key to write.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// `APPEND key value`: reply with the value's new length as an integer.
    Append {
        /// The key to extend (created empty if absent).
        key: Bytes,
        /// The bytes to append.
        value: Bytes,
    },
    /// `PING [message]`: reply `+PONG`, or the message as a bulk string.
    Ping {
        /// The optional message to echo.
        message: Option<Bytes>,
    },
    /// `CONFIG <subcommand> ...`: redis-benchmark sends `CONFIG GET save` and
    /// `CONFIG GET appendonly` at start. [`Command::local_reply`] answers those two with the
    /// `[name, value]` pair redis-benchmark expects, and anything else with an empty array.
    Config {
        /// The arguments after `CONFIG`.
        args: Vec<Bytes>,
    },
    /// `COMMAND [...]`: redis-cli sends `COMMAND DOCS` at start for its hints. Answered with an
    /// empty array, which redis-cli accepts as "no documentation".
    CommandInfo {
        /// The arguments after `COMMAND`.
        args: Vec<Bytes>,
    },
    /// `INFO [section ...]`: the server describes itself (for a replicated store: its role and
    /// who leads). Answered by the server, not by [`Command::local_reply`].
    Info {
        /// The sections asked for (ignored: the server reports what it has).
        sections: Vec<Bytes>,
    },
    /// A command name we do not implement.
    Unknown {
        /// The name as the client sent it.
        name: Bytes,
    },
    /// A known command with the wrong number of arguments.
    WrongArity {
        /// The name as the client sent it.
        name: Bytes,
    },
}

impl Command {
    /// Recognises a command from its arguments (name first); `None` if `args` is empty.
    pub fn from_args(mut args: Vec<Bytes>) -> Option<Command> {
        if args.is_empty() {
            return None;
        }
        // Shifting a handful of handles in place is cheaper than a second Vec per command.
        let name = args.remove(0);
        let rest = args;
        let is = |expected: &str| name.eq_ignore_ascii_case(expected.as_bytes());
        let command = if is("GET") {
            match <[Bytes; 1]>::try_from(rest) {
                Ok([key]) => Command::Get { key },
                Err(_) => Command::WrongArity { name },
            }
        } else if is("SET") || is("APPEND") {
            match <[Bytes; 2]>::try_from(rest) {
                Ok([key, value]) if is("SET") => Command::Set { key, value },
                Ok([key, value]) => Command::Append { key, value },
                Err(_) => Command::WrongArity { name },
            }
        } else if is("PING") {
            if rest.len() > 1 {
                Command::WrongArity { name }
            } else {
                Command::Ping {
                    message: rest.into_iter().next(),
                }
            }
        } else if is("CONFIG") {
            Command::Config { args: rest }
        } else if is("COMMAND") {
            Command::CommandInfo { args: rest }
        } else if is("INFO") {
            Command::Info { sections: rest }
        } else {
            Command::Unknown { name }
        };
        Some(command)
    }

    /// The command as client arguments, name first: the inverse of [`Command::from_args`]
    /// (names in upper case).
    pub fn to_args(&self) -> Vec<Bytes> {
        let name = |n: &'static str| Bytes::from_static(n.as_bytes());
        match self {
            Command::Get { key } => vec![name("GET"), key.clone()],
            Command::Set { key, value } => vec![name("SET"), key.clone(), value.clone()],
            Command::Append { key, value } => vec![name("APPEND"), key.clone(), value.clone()],
            Command::Ping { message } => {
                let mut args = vec![name("PING")];
                args.extend(message.clone());
                args
            }
            Command::Config { args } => [vec![name("CONFIG")], args.clone()].concat(),
            Command::CommandInfo { args } => [vec![name("COMMAND")], args.clone()].concat(),
            Command::Info { sections } => [vec![name("INFO")], sections.clone()].concat(),
            Command::Unknown { name } | Command::WrongArity { name } => vec![name.clone()],
        }
    }

    /// The reply for commands that need no store, or `None` for GET, SET, APPEND and INFO.
    ///
    /// PING answers `+PONG` (or echoes its message), `CONFIG`/`COMMAND` probes answer an empty
    /// array so redis-benchmark and redis-cli carry on, and unknown or mis-called commands get
    /// Redis's error lines.
    pub fn local_reply(&self) -> Option<Reply> {
        match self {
            Command::Get { .. }
            | Command::Set { .. }
            | Command::Append { .. }
            | Command::Info { .. } => None,
            Command::Ping { message: None } => Some(Reply::pong()),
            Command::Ping { message: Some(m) } => Some(Reply::Bulk(m.clone())),
            Command::Config { args } => Some(config_reply(args)),
            Command::CommandInfo { .. } => Some(Reply::empty_array()),
            Command::Unknown { name } => Some(Reply::unknown_command(name)),
            Command::WrongArity { name } => Some(Reply::wrong_arity(name)),
        }
    }
}

/// The settings `CONFIG GET` reports, as `(name, value)`.
///
/// Why these two: redis-benchmark reads exactly `save` and `appendonly` before a run and prints
/// "ERROR: failed to fetch CONFIG" unless each reply is an array of at least two elements. The
/// values describe the front door honestly: no RDB snapshots, no append-only file (durability
/// comes from Paxos replication instead).
const CONFIG_SETTINGS: [(&str, &str); 2] = [("save", ""), ("appendonly", "no")];

/// `CONFIG GET <name>` for a known setting gives `[name, value]`; anything else `*0`, which is
/// also what Redis returns for a parameter pattern that matches nothing.
fn config_reply(args: &[Bytes]) -> Reply {
    let [sub, param] = args else {
        return Reply::empty_array();
    };
    if !sub.eq_ignore_ascii_case(b"GET") {
        return Reply::empty_array();
    }
    let found = CONFIG_SETTINGS
        .iter()
        .find(|(name, _)| param.eq_ignore_ascii_case(name.as_bytes()));
    match found {
        Some((name, value)) => Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(name.as_bytes())),
            Reply::Bulk(Bytes::from_static(value.as_bytes())),
        ]),
        None => Reply::empty_array(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str]) -> Option<Command> {
        Command::from_args(
            args.iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        )
    }

    /// Names match in any case, and each command checks its argument count.
    #[test]
    fn names_are_case_insensitive_and_arity_is_checked() {
        let k = Bytes::from_static(b"k");
        let v = Bytes::from_static(b"v");
        assert_eq!(cmd(&["gEt", "k"]), Some(Command::Get { key: k.clone() }));
        assert_eq!(
            cmd(&["set", "k", "v"]),
            Some(Command::Set {
                key: k.clone(),
                value: v.clone()
            })
        );
        assert_eq!(
            cmd(&["Append", "k", "v"]),
            Some(Command::Append { key: k, value: v })
        );
        assert_eq!(cmd(&["ping"]), Some(Command::Ping { message: None }));
        assert_eq!(
            cmd(&["PING", "hi"]),
            Some(Command::Ping {
                message: Some("hi".into())
            })
        );
        for bad in [
            &["get"][..],
            &["GET", "a", "b"],
            &["set", "k"],
            &["APPEND", "k", "v", "x"],
            &["ping", "a", "b"],
        ] {
            assert_eq!(
                cmd(bad),
                Some(Command::WrongArity {
                    name: bad[0].into()
                }),
                "{bad:?}"
            );
        }
        assert_eq!(
            cmd(&["FLUSHALL"]),
            Some(Command::Unknown {
                name: "FLUSHALL".into()
            })
        );
        assert_eq!(cmd(&[]), None);
    }

    /// redis-benchmark's and redis-cli's start-up probes get arrays, never errors: the two
    /// settings redis-benchmark reads come back as `[name, value]` pairs.
    #[test]
    fn startup_probes_get_arrays() {
        let pair = |n: &'static str, v: &'static str| {
            Reply::Array(vec![Reply::Bulk(n.into()), Reply::Bulk(v.into())])
        };
        let cases = [
            (&["CONFIG", "GET", "save"][..], pair("save", "")),
            (&["config", "get", "APPENDONLY"], pair("appendonly", "no")),
            (&["CONFIG", "GET", "maxmemory"], Reply::empty_array()),
            (&["CONFIG", "SET", "save", ""], Reply::empty_array()),
            (&["CONFIG"], Reply::empty_array()),
            (&["COMMAND", "DOCS"], Reply::empty_array()),
        ];
        for (probe, want) in cases {
            let command = cmd(probe).expect("non-empty");
            assert_eq!(command.local_reply(), Some(want), "{probe:?}");
            assert_eq!(Command::from_args(command.to_args()), Some(command));
        }
    }

    /// INFO, with or without sections, is left to the server (it describes the server).
    #[test]
    fn info_is_answered_by_the_server() {
        for args in [&["INFO"][..], &["info", "replication"], &["INFO", "a", "b"]] {
            let command = cmd(args).expect("non-empty");
            assert!(matches!(command, Command::Info { .. }), "{args:?}");
            assert_eq!(command.local_reply(), None);
            assert_eq!(Command::from_args(command.to_args()), Some(command));
        }
    }

    /// Local replies carry Redis's exact error texts.
    #[test]
    fn local_replies_match_redis() {
        let reply = |args: &[&str]| cmd(args).and_then(|c| c.local_reply());
        assert_eq!(reply(&["GET", "k"]), None);
        assert_eq!(reply(&["PING"]), Some(Reply::Simple("PONG".into())));
        assert_eq!(reply(&["PING", "x"]), Some(Reply::Bulk("x".into())));
        assert_eq!(
            reply(&["FOO"]),
            Some(Reply::Error("ERR unknown command 'FOO'".into()))
        );
        assert_eq!(
            reply(&["GET"]),
            Some(Reply::Error(
                "ERR wrong number of arguments for 'get' command".into()
            ))
        );
    }
}
