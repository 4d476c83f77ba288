//! The commands the Redis front door understands.

mod connection;

pub use connection::{ClientCommand, Hello, LibAttr, info_wants};
use connection::{client_from_args, hello_from_args, select_reply};

use crate::reply::Reply;
use bytes::Bytes;

/// A client command, recognised from its arguments.
///
/// Names match case-insensitively, as in Redis. Keys and values are binary-safe [`Bytes`].
/// Commands the server cannot run are still values (`Unknown`, `WrongArity`), because Redis
/// answers them with an error reply and keeps the connection open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A command on the store (GET, SET, DEL, INCR, EXPIRE, SCAN, ...), recognised and checked
    /// by [`keyspace::parse`]; the server runs it through the log.
    Store(keyspace::Cmd),
    /// `MULTI`: start queueing a transaction. Answered by the server, which holds the queue.
    Multi,
    /// `EXEC`: run the queued transaction.
    Exec,
    /// `DISCARD`: drop the queued transaction.
    Discard,
    /// `WATCH key ...`: EXEC runs only if none of these keys changed since.
    Watch {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// `UNWATCH`: forget the watched keys.
    Unwatch,
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
    /// `ECHO message`: reply with the message as a bulk string.
    Echo {
        /// The message to send back.
        message: Bytes,
    },
    /// `SELECT index`: there is one database, so `0` is `+OK` and any other index an error.
    Select {
        /// The index as sent (checked when answered, with Redis's error texts).
        index: Bytes,
    },
    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`: switch protocol and describe the
    /// server. Answered by [`crate::ClientState`], which holds the connection's protocol.
    Hello(Hello),
    /// `CLIENT <subcommand> ...`: the connection's own name, id and library. Answered by
    /// [`crate::ClientState`].
    Client(ClientCommand),
    /// `AUTH [user] password`, answered as Redis without `requirepass` answers it: the
    /// password-less `default` user is accepted with any password, `AUTH password` alone is
    /// refused with Redis's hint, and any other user gets `WRONGPASS`.
    Auth {
        /// The user, if given.
        user: Option<Bytes>,
        /// The password (never checked: there are none).
        password: Bytes,
    },
    /// `QUIT`: reply `+OK`, then the server closes the connection.
    Quit,
    /// `RESET`: back to RESP2 (the name stays, as in Redis); reply `+RESET`. Answered by
    /// [`crate::ClientState`].
    Reset,
    /// A known command whose arguments Redis would refuse with `error` (a HELLO protocol
    /// other than 2 or 3, an unknown CLIENT subcommand, a client name with spaces, ...).
    Invalid {
        /// The whole command as sent, name first.
        args: Vec<Bytes>,
        /// The error reply's text, code first (`ERR ...`, `NOPROTO ...`).
        error: String,
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
    /// A well-formed command too large to take in (see [`crate::RespError::is_oversized`]):
    /// [`crate::RespCodec`] skips its bytes as they arrive, without buffering them, and the
    /// server answers `error` and keeps the connection, so the client can read why.
    TooLarge {
        /// The error reply's text, code first (`ERR Protocol error: value of ...`).
        error: String,
    },
}

impl Command {
    /// `GET key`.
    pub fn get(key: impl Into<Bytes>) -> Command {
        Command::Store(keyspace::Cmd::Get { key: key.into() })
    }

    /// `SET key value`, no options.
    pub fn set(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Command {
        Command::Store(keyspace::Cmd::Set {
            key: key.into(),
            value: value.into(),
            condition: keyspace::Condition::Always,
            get: false,
            expiry: keyspace::SetExpiry::Clear,
        })
    }

    /// `APPEND key value`.
    pub fn append(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Command {
        Command::Store(keyspace::Cmd::Append {
            key: key.into(),
            value: value.into(),
        })
    }

    /// Recognises a command from its arguments (name first); `None` if `args` is empty.
    pub fn from_args(mut args: Vec<Bytes>) -> Option<Command> {
        if args.is_empty() {
            return None;
        }
        // Shifting a handful of handles in place is cheaper than a second Vec per command.
        let name = args.remove(0);
        let rest = args;
        let is = |expected: &str| name.eq_ignore_ascii_case(expected.as_bytes());
        let command = if let Some(store) = keyspace_command(&name, &rest) {
            store
        } else if is("MULTI") || is("EXEC") || is("DISCARD") || is("UNWATCH") {
            match rest.len() {
                0 if is("MULTI") => Command::Multi,
                0 if is("EXEC") => Command::Exec,
                0 if is("DISCARD") => Command::Discard,
                0 => Command::Unwatch,
                _ => Command::WrongArity { name },
            }
        } else if is("WATCH") {
            if rest.is_empty() {
                Command::WrongArity { name }
            } else {
                Command::Watch { keys: rest }
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
        } else if is("ECHO") || is("SELECT") {
            match <[Bytes; 1]>::try_from(rest) {
                Ok([message]) if is("ECHO") => Command::Echo { message },
                Ok([index]) => Command::Select { index },
                Err(_) => Command::WrongArity { name },
            }
        } else if is("HELLO") {
            hello_from_args(name, rest)
        } else if is("CLIENT") {
            client_from_args(name, rest)
        } else if is("AUTH") {
            let mut rest = rest.into_iter();
            match (rest.next(), rest.next(), rest.next()) {
                (Some(password), None, None) => Command::Auth {
                    user: None,
                    password,
                },
                (Some(user), Some(password), None) => Command::Auth {
                    user: Some(user),
                    password,
                },
                _ => Command::WrongArity { name },
            }
        } else if is("QUIT") {
            // Redis ignores QUIT's arguments.
            Command::Quit
        } else if is("RESET") {
            if rest.is_empty() {
                Command::Reset
            } else {
                Command::WrongArity { name }
            }
        } else {
            Command::Unknown { name }
        };
        Some(command)
    }

    /// The command as client arguments, name first: the inverse of [`Command::from_args`]
    /// (names in upper case). Empty for [`Command::TooLarge`], whose arguments were never read.
    pub fn to_args(&self) -> Vec<Bytes> {
        let name = |n: &'static str| Bytes::from_static(n.as_bytes());
        match self {
            Command::Store(cmd) => store_args(cmd),
            Command::Multi => vec![name("MULTI")],
            Command::Exec => vec![name("EXEC")],
            Command::Discard => vec![name("DISCARD")],
            Command::Watch { keys } => [vec![name("WATCH")], keys.clone()].concat(),
            Command::Unwatch => vec![name("UNWATCH")],
            Command::Ping { message } => {
                let mut args = vec![name("PING")];
                args.extend(message.clone());
                args
            }
            Command::Config { args } => [vec![name("CONFIG")], args.clone()].concat(),
            Command::CommandInfo { args } => [vec![name("COMMAND")], args.clone()].concat(),
            Command::Info { sections } => [vec![name("INFO")], sections.clone()].concat(),
            Command::Echo { message } => vec![name("ECHO"), message.clone()],
            Command::Select { index } => vec![name("SELECT"), index.clone()],
            Command::Hello(hello) => hello.to_args(),
            Command::Client(client) => client.to_args(),
            Command::Auth { user, password } => {
                let mut args = vec![name("AUTH")];
                args.extend(user.clone());
                args.push(password.clone());
                args
            }
            Command::Quit => vec![name("QUIT")],
            Command::Reset => vec![name("RESET")],
            Command::Invalid { args, .. } => args.clone(),
            Command::Unknown { name } | Command::WrongArity { name } => vec![name.clone()],
            // Its arguments were skipped unread; there is nothing to give back.
            Command::TooLarge { .. } => Vec::new(),
        }
    }

    /// The reply for commands that need neither the store nor the connection's state, or
    /// `None` for store commands, transactions, INFO and those [`crate::ClientState`] answers
    /// (HELLO, CLIENT, RESET).
    ///
    /// PING answers `+PONG` (or echoes its message), the `CONFIG`/`COMMAND` probes answer
    /// what redis-benchmark, redis-cli and client libraries expect, `QUIT` answers `+OK` (the
    /// server closes after it), and unknown or mis-called commands get Redis's error lines.
    pub fn local_reply(&self) -> Option<Reply> {
        match self {
            Command::Store(_)
            | Command::Multi
            | Command::Exec
            | Command::Discard
            | Command::Watch { .. }
            | Command::Unwatch
            | Command::Info { .. }
            | Command::Hello(_)
            | Command::Client(_)
            | Command::Reset => None,
            Command::Ping { message: None } => Some(Reply::pong()),
            Command::Ping { message: Some(m) } => Some(Reply::Bulk(m.clone())),
            Command::Echo { message } => Some(Reply::Bulk(message.clone())),
            Command::Select { index } => Some(select_reply(index)),
            Command::Quit => Some(Reply::ok()),
            Command::Auth { user: None, .. } => Some(Reply::error(
                "ERR AUTH <password> called without any password configured for the default \
                 user. Are you sure your configuration is correct?",
            )),
            Command::Auth {
                user: Some(user), ..
            } if &user[..] == b"default" => Some(Reply::ok()),
            Command::Auth { .. } => Some(Reply::error(
                "WRONGPASS invalid username-password pair or user is disabled.",
            )),
            Command::Invalid { error, .. } => Some(Reply::error(error.clone())),
            Command::Config { args } => Some(config_reply(args)),
            Command::CommandInfo { args } => Some(crate::table::command_reply(args)),
            Command::Unknown { name } => Some(Reply::unknown_command(name)),
            Command::WrongArity { name } => Some(Reply::wrong_arity(name)),
            Command::TooLarge { error } => Some(Reply::error(error.clone())),
        }
    }
}

/// A store command from its name and arguments: `None` if the name is not one, an
/// [`Command::Invalid`] with Redis's error if the arguments are wrong.
fn keyspace_command(name: &Bytes, rest: &[Bytes]) -> Option<Command> {
    // `keyspace::parse` takes the whole command; one more handle is cheap next to a command.
    let mut args = Vec::with_capacity(rest.len() + 1);
    args.push(name.clone());
    args.extend_from_slice(rest);
    Some(match keyspace::parse(&args)? {
        Ok(cmd) => Command::Store(cmd),
        Err(error) => Command::Invalid { args, error },
    })
}

/// A store command as client arguments, for tests and clients that send one: the canonical
/// form, which [`keyspace::parse`] reads back as the same command.
fn store_args(cmd: &keyspace::Cmd) -> Vec<Bytes> {
    keyspace::to_args(cmd)
}

/// The settings `CONFIG GET` reports, as `(name, value)`.
///
/// Why these two: redis-benchmark reads exactly `save` and `appendonly` before a run and prints
/// "ERROR: failed to fetch CONFIG" unless each reply is an array of at least two elements. The
/// values describe the front door honestly: no RDB snapshots, no append-only file (durability
/// comes from Paxos replication instead).
const CONFIG_SETTINGS: [(&str, &str); 2] = [("save", ""), ("appendonly", "no")];

/// `CONFIG GET <name>` for a known setting gives `{name: value}`; a name that matches nothing
/// the empty map, as Redis; any other use `*0`.
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
    // A map, as Redis 7 answers: RESP2 clients see the flat `[name, value]` array.
    match found {
        Some((name, value)) => Reply::Map(vec![(Reply::bulk(name), Reply::bulk(value))]),
        None => Reply::Map(Vec::new()),
    }
}

#[cfg(test)]
mod tests;
