//! The commands the Redis front door understands.

use crate::reply::{Protocol, Reply};
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
}

/// The arguments of `HELLO`, checked as Redis checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The protocol to switch to; `None` keeps the connection's (`HELLO` alone).
    pub protocol: Option<Protocol>,
    /// `AUTH user pass`. There are no passwords here: like Redis's default `nopass` user,
    /// `default` is accepted with any password, and any other user refused.
    pub auth: Option<(Bytes, Bytes)>,
    /// `SETNAME name`, already checked for spaces and special characters.
    pub setname: Option<Bytes>,
}

/// A `CLIENT` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// `CLIENT SETNAME name`: the empty name clears it.
    SetName(Bytes),
    /// `CLIENT GETNAME`: the name as a bulk string, or null if none.
    GetName,
    /// `CLIENT ID`: the connection's id, unique within the server process.
    Id,
    /// `CLIENT SETINFO LIB-NAME|LIB-VER value`: what redis-py and the Rust `redis` crate send
    /// on every connect.
    SetInfo {
        /// Which attribute.
        attr: LibAttr,
        /// Its new value.
        value: Bytes,
    },
    /// `CLIENT INFO`: one `key=value ...` line about this connection.
    Info,
}

/// The library attributes `CLIENT SETINFO` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibAttr {
    /// `LIB-NAME`.
    Name,
    /// `LIB-VER`.
    Version,
}

impl LibAttr {
    /// The attribute's name as `CLIENT INFO` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            LibAttr::Name => "lib-name",
            LibAttr::Version => "lib-ver",
        }
    }
}

/// The `INFO` section names that stand for every section: Redis's `all`, `default` and
/// `everything` differ only in sections this server does not have (modules, latency stats).
const INFO_ALL: [&str; 3] = ["all", "default", "everything"];

/// True if `INFO` with arguments `sections` asks for `section` (lower case): `INFO` alone and
/// [`INFO_ALL`] ask for all, otherwise a section must be named, in any case.
pub fn info_wants(sections: &[Bytes], section: &str) -> bool {
    sections.is_empty()
        || sections.iter().any(|asked| {
            asked.eq_ignore_ascii_case(section.as_bytes())
                || INFO_ALL
                    .iter()
                    .any(|all| asked.eq_ignore_ascii_case(all.as_bytes()))
        })
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
        }
    }

    /// The reply for commands that need neither the store nor the connection's state, or
    /// `None` for GET, SET, APPEND, INFO and for those [`crate::ClientState`] answers
    /// (HELLO, CLIENT, RESET).
    ///
    /// PING answers `+PONG` (or echoes its message), the `CONFIG`/`COMMAND` probes answer
    /// what redis-benchmark, redis-cli and client libraries expect, `QUIT` answers `+OK` (the
    /// server closes after it), and unknown or mis-called commands get Redis's error lines.
    pub fn local_reply(&self) -> Option<Reply> {
        match self {
            Command::Get { .. }
            | Command::Set { .. }
            | Command::Append { .. }
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
        }
    }
}

/// `HELLO`'s arguments, checked in Redis's order: the protocol first, then each option.
fn hello_from_args(name: Bytes, rest: Vec<Bytes>) -> Command {
    let invalid = |error: String| Command::Invalid {
        args: [vec![name.clone()], rest.clone()].concat(),
        error,
    };
    let mut hello = Hello {
        protocol: None,
        auth: None,
        setname: None,
    };
    let Some(version) = rest.first() else {
        return Command::Hello(hello);
    };
    hello.protocol = match parse_i64(version) {
        Some(2) => Some(Protocol::Resp2),
        Some(3) => Some(Protocol::Resp3),
        Some(_) => return invalid("NOPROTO unsupported protocol version".to_owned()),
        None => {
            return invalid("ERR Protocol version is not an integer or out of range".to_owned());
        }
    };
    let options = &rest[1..];
    let mut at = 0;
    while let Some(option) = options.get(at) {
        let more = options.len() - at - 1;
        if option.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            hello.auth = Some((options[at + 1].clone(), options[at + 2].clone()));
            at += 3;
        } else if option.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            let client_name = &options[at + 1];
            if !is_valid_attr(client_name) {
                return invalid(BAD_CLIENT_NAME.to_owned());
            }
            hello.setname = Some(client_name.clone());
            at += 2;
        } else {
            let option = String::from_utf8_lossy(option);
            return invalid(format!("ERR Syntax error in HELLO option '{option}'"));
        }
    }
    Command::Hello(hello)
}

/// Redis's words for a client name it refuses.
const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

/// `CLIENT`'s subcommands, with Redis's arity and syntax errors.
fn client_from_args(name: Bytes, rest: Vec<Bytes>) -> Command {
    let args = [vec![name.clone()], rest.clone()].concat();
    let Some(sub) = rest.first() else {
        return Command::WrongArity { name };
    };
    let is = |expected: &str| sub.eq_ignore_ascii_case(expected.as_bytes());
    let arity = match () {
        _ if is("SETNAME") => 2,
        _ if is("SETINFO") => 3,
        _ if is("GETNAME") || is("ID") || is("INFO") => 1,
        _ => {
            let sub = String::from_utf8_lossy(&sub[..sub.len().min(128)]).into_owned();
            let error = format!("ERR unknown subcommand '{sub}'. Try CLIENT HELP.");
            return Command::Invalid { args, error };
        }
    };
    if rest.len() != arity {
        // Redis names a subcommand `container|sub` in its arity error.
        let full = [&name[..], b"|", &sub[..]].concat();
        return Command::WrongArity {
            name: Bytes::from(full),
        };
    }
    let invalid = |error: String| Command::Invalid {
        args: args.clone(),
        error,
    };
    let client = if is("SETNAME") {
        if !is_valid_attr(&rest[1]) {
            return invalid(BAD_CLIENT_NAME.to_owned());
        }
        ClientCommand::SetName(rest[1].clone())
    } else if is("SETINFO") {
        let attr = if rest[1].eq_ignore_ascii_case(b"LIB-NAME") {
            LibAttr::Name
        } else if rest[1].eq_ignore_ascii_case(b"LIB-VER") {
            LibAttr::Version
        } else {
            let option = String::from_utf8_lossy(&rest[1]);
            return invalid(format!("ERR Unrecognized option '{option}'"));
        };
        if !is_valid_attr(&rest[2]) {
            let attr = attr.as_str();
            return invalid(format!(
                "ERR {attr} cannot contain spaces, newlines or special characters."
            ));
        }
        ClientCommand::SetInfo {
            attr,
            value: rest[2].clone(),
        }
    } else if is("GETNAME") {
        ClientCommand::GetName
    } else if is("ID") {
        ClientCommand::Id
    } else {
        ClientCommand::Info
    };
    Command::Client(client)
}

/// Redis's rule for client names and library attributes: printable ASCII without spaces
/// (they are printed space-separated in `CLIENT INFO`).
fn is_valid_attr(value: &[u8]) -> bool {
    value.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// A decimal integer as Redis reads one (optional sign, digits, nothing else).
fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// `SELECT`: one database, number 0.
fn select_reply(index: &[u8]) -> Reply {
    match parse_i64(index) {
        Some(0) => Reply::ok(),
        Some(_) => Reply::error("ERR DB index is out of range"),
        None => Reply::error("ERR value is not an integer or out of range"),
    }
}

impl Hello {
    fn to_args(&self) -> Vec<Bytes> {
        let mut args = vec![Bytes::from_static(b"HELLO")];
        if let Some(protocol) = self.protocol {
            args.push(Bytes::from(protocol.version().to_string()));
        }
        if let Some((user, pass)) = &self.auth {
            args.extend([Bytes::from_static(b"AUTH"), user.clone(), pass.clone()]);
        }
        if let Some(name) = &self.setname {
            args.extend([Bytes::from_static(b"SETNAME"), name.clone()]);
        }
        args
    }
}

impl ClientCommand {
    fn to_args(&self) -> Vec<Bytes> {
        let word = |w: &'static str| Bytes::from_static(w.as_bytes());
        let mut args = vec![word("CLIENT")];
        match self {
            ClientCommand::SetName(name) => args.extend([word("SETNAME"), name.clone()]),
            ClientCommand::GetName => args.push(word("GETNAME")),
            ClientCommand::Id => args.push(word("ID")),
            ClientCommand::SetInfo { attr, value } => {
                let attr = match attr {
                    LibAttr::Name => word("LIB-NAME"),
                    LibAttr::Version => word("LIB-VER"),
                };
                args.extend([word("SETINFO"), attr, value.clone()]);
            }
            ClientCommand::Info => args.push(word("INFO")),
        }
        args
    }
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
        assert_eq!(
            cmd(&["CONFIG", "GET", "save"]).and_then(|c| c.local_reply()),
            Some(Reply::Map(vec![(Reply::bulk("save"), Reply::bulk(""))]))
        );
        let cases = [
            (&["CONFIG", "GET", "save"][..], pair("save", "")),
            (&["config", "get", "APPENDONLY"], pair("appendonly", "no")),
            (&["CONFIG", "GET", "maxmemory"], Reply::Map(Vec::new())),
            (&["CONFIG", "SET", "save", ""], Reply::empty_array()),
            (&["CONFIG"], Reply::empty_array()),
            (&["COMMAND", "DOCS"], Reply::Map(Vec::new())),
        ];
        for (probe, want) in cases {
            let command = cmd(probe).expect("non-empty");
            // What RESP2 clients read is what they read before maps existed.
            let (mut got, mut wanted) = (bytes::BytesMut::new(), bytes::BytesMut::new());
            command.local_reply().expect("local").encode(&mut got);
            want.encode(&mut wanted);
            assert_eq!(got, wanted, "{probe:?}");
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

    /// ECHO, SELECT and QUIT are answered locally with Redis's replies and errors.
    #[test]
    fn echo_select_quit() {
        let reply = |args: &[&str]| cmd(args).and_then(|c| c.local_reply());
        assert_eq!(reply(&["ECHO", "hi there"]), Some(Reply::bulk("hi there")));
        assert_eq!(reply(&["select", "0"]), Some(Reply::ok()));
        assert_eq!(
            reply(&["SELECT", "1"]),
            Some(Reply::error("ERR DB index is out of range"))
        );
        assert_eq!(
            reply(&["SELECT", "-1"]),
            Some(Reply::error("ERR DB index is out of range"))
        );
        assert_eq!(
            reply(&["SELECT", "zero"]),
            Some(Reply::error("ERR value is not an integer or out of range"))
        );
        assert_eq!(cmd(&["QUIT"]), Some(Command::Quit));
        assert_eq!(cmd(&["quit", "now"]), Some(Command::Quit));
        assert_eq!(reply(&["QUIT"]), Some(Reply::ok()));
        assert_eq!(cmd(&["RESET"]), Some(Command::Reset));
        for bad in [
            &["ECHO"][..],
            &["ECHO", "a", "b"],
            &["SELECT"],
            &["select", "0", "1"],
            &["RESET", "x"],
        ] {
            assert_eq!(
                cmd(bad),
                Some(Command::WrongArity {
                    name: bad[0].into()
                }),
                "{bad:?}"
            );
        }
    }

    /// HELLO is parsed as Redis parses it: protocol first (2 or 3, else NOPROTO), then
    /// AUTH user pass and SETNAME name in any case and order; anything else a syntax error.
    #[test]
    fn hello_parses_as_redis() {
        let hello = |protocol,
                     auth: Option<(&'static str, &'static str)>,
                     setname: Option<&'static str>| {
            Some(Command::Hello(Hello {
                protocol,
                auth: auth.map(|(u, p)| (u.into(), p.into())),
                setname: setname.map(Bytes::from),
            }))
        };
        assert_eq!(cmd(&["HELLO"]), hello(None, None, None));
        assert_eq!(
            cmd(&["hello", "3"]),
            hello(Some(Protocol::Resp3), None, None)
        );
        assert_eq!(
            cmd(&["HELLO", "2"]),
            hello(Some(Protocol::Resp2), None, None)
        );
        assert_eq!(
            cmd(&["HELLO", "3", "setname", "n", "AUTH", "default", "pw"]),
            hello(Some(Protocol::Resp3), Some(("default", "pw")), Some("n"))
        );
        let error = |args: &[&str]| match cmd(args) {
            Some(Command::Invalid { error, .. }) => error,
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(
            error(&["HELLO", "4"]),
            "NOPROTO unsupported protocol version"
        );
        assert_eq!(
            error(&["HELLO", "1"]),
            "NOPROTO unsupported protocol version"
        );
        assert_eq!(
            error(&["HELLO", "three"]),
            "ERR Protocol version is not an integer or out of range"
        );
        assert_eq!(
            error(&["HELLO", "3", "AUTH", "default"]),
            "ERR Syntax error in HELLO option 'AUTH'"
        );
        assert_eq!(
            error(&["HELLO", "3", "SETNAME"]),
            "ERR Syntax error in HELLO option 'SETNAME'"
        );
        assert_eq!(
            error(&["HELLO", "3", "FOO"]),
            "ERR Syntax error in HELLO option 'FOO'"
        );
        assert_eq!(
            error(&["HELLO", "3", "SETNAME", "a b"]),
            "ERR Client names cannot contain spaces, newlines or special characters."
        );
        for args in [
            &["HELLO", "4"][..],
            &["HELLO", "3", "SETNAME", "x", "AUTH", "u", "p"],
        ] {
            let command = cmd(args).expect("non-empty");
            assert_eq!(
                Command::from_args(command.to_args()),
                Some(command),
                "{args:?}"
            );
        }
        assert_eq!(cmd(&["HELLO", "3"]).and_then(|c| c.local_reply()), None);
    }

    /// CLIENT's subcommands with their arity (named `client|sub`, as Redis) and syntax errors.
    #[test]
    fn client_subcommands_parse_as_redis() {
        let client = |c: ClientCommand| Some(Command::Client(c));
        assert_eq!(
            cmd(&["CLIENT", "setname", "x"]),
            client(ClientCommand::SetName("x".into()))
        );
        assert_eq!(cmd(&["client", "GETNAME"]), client(ClientCommand::GetName));
        assert_eq!(cmd(&["CLIENT", "id"]), client(ClientCommand::Id));
        assert_eq!(cmd(&["CLIENT", "INFO"]), client(ClientCommand::Info));
        assert_eq!(
            cmd(&["CLIENT", "SETINFO", "lib-name", "redis-py"]),
            client(ClientCommand::SetInfo {
                attr: LibAttr::Name,
                value: "redis-py".into()
            })
        );
        assert_eq!(
            cmd(&["CLIENT", "SETINFO", "LIB-VER", "1.0"]),
            client(ClientCommand::SetInfo {
                attr: LibAttr::Version,
                value: "1.0".into()
            })
        );
        let reply = |args: &[&str]| cmd(args).and_then(|c| c.local_reply());
        let err = |text: &str| Some(Reply::error(text));
        assert_eq!(
            reply(&["CLIENT"]),
            err("ERR wrong number of arguments for 'client' command")
        );
        assert_eq!(
            reply(&["CLIENT", "SETNAME"]),
            err("ERR wrong number of arguments for 'client|setname' command")
        );
        assert_eq!(
            reply(&["CLIENT", "GETNAME", "x"]),
            err("ERR wrong number of arguments for 'client|getname' command")
        );
        assert_eq!(
            reply(&["CLIENT", "SETINFO", "LIB-NAME"]),
            err("ERR wrong number of arguments for 'client|setinfo' command")
        );
        assert_eq!(
            reply(&["CLIENT", "MAINT_NOTIFICATIONS", "ON"]),
            err("ERR unknown subcommand 'MAINT_NOTIFICATIONS'. Try CLIENT HELP.")
        );
        assert_eq!(
            reply(&["CLIENT", "SETNAME", "a\nb"]),
            err("ERR Client names cannot contain spaces, newlines or special characters.")
        );
        assert_eq!(
            reply(&["CLIENT", "SETINFO", "LIB-FOO", "x"]),
            err("ERR Unrecognized option 'LIB-FOO'")
        );
        assert_eq!(
            reply(&["CLIENT", "SETINFO", "LIB-VER", "1 0"]),
            err("ERR lib-ver cannot contain spaces, newlines or special characters.")
        );
        for args in [
            &["CLIENT", "SETINFO", "LIB-VER", "1"][..],
            &["CLIENT", "ID"],
            &["CLIENT", "SETNAME", "n"],
        ] {
            let command = cmd(args).expect("non-empty");
            assert_eq!(
                Command::from_args(command.to_args()),
                Some(command),
                "{args:?}"
            );
        }
    }

    /// INFO sections: none, `all`, `default` or `everything` mean every section; otherwise
    /// only the named ones, in any case.
    #[test]
    fn info_sections_are_selected_by_name() {
        let wants = |args: &[&str], section| {
            let args: Vec<Bytes> = args
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect();
            info_wants(&args, section)
        };
        for all in [&[][..], &["all"], &["DEFAULT"], &["everything"]] {
            assert!(wants(all, "server") && wants(all, "keyspace"), "{all:?}");
        }
        assert!(wants(&["Replication"], "replication"));
        assert!(!wants(&["replication"], "server"));
        assert!(wants(&["server", "clients"], "clients"));
        assert!(!wants(&["nosuch"], "keyspace"));
    }

    /// AUTH as Redis with no password set: the `default` user with any password is fine,
    /// the one-argument form and other users are refused with Redis's words.
    #[test]
    fn auth_answers_as_redis_without_passwords() {
        let reply = |args: &[&str]| cmd(args).and_then(|c| c.local_reply());
        assert_eq!(reply(&["AUTH", "default", "anything"]), Some(Reply::ok()));
        assert_eq!(
            reply(&["AUTH", "bob", "pw"]),
            Some(Reply::error(
                "WRONGPASS invalid username-password pair or user is disabled."
            ))
        );
        let Some(Reply::Error(hint)) = reply(&["auth", "pw"]) else {
            panic!("AUTH password is refused");
        };
        assert!(hint.starts_with("ERR AUTH <password> called without any password configured"));
        for bad in [&["AUTH"][..], &["AUTH", "a", "b", "c"]] {
            assert_eq!(
                cmd(bad),
                Some(Command::WrongArity {
                    name: bad[0].into()
                })
            );
        }
        for args in [&["AUTH", "pw"][..], &["AUTH", "default", "pw"]] {
            let command = cmd(args).expect("non-empty");
            assert_eq!(
                Command::from_args(command.to_args()),
                Some(command),
                "{args:?}"
            );
        }
    }
}
