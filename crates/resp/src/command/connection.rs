//! The connection commands: `HELLO`, `CLIENT`, `SELECT`, and which `INFO` sections are asked
//! for. What they change lives in [`crate::ClientState`]; this module parses and checks them as
//! Redis does.

use super::Command;
use crate::reply::{Protocol, Reply};
use bytes::Bytes;

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

/// `HELLO`'s arguments, checked in Redis's order: the protocol first, then each option.
pub(super) fn hello_from_args(name: Bytes, rest: Vec<Bytes>) -> Command {
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
pub(super) fn client_from_args(name: Bytes, rest: Vec<Bytes>) -> Command {
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
pub(super) fn select_reply(index: &[u8]) -> Reply {
    match parse_i64(index) {
        Some(0) => Reply::ok(),
        Some(_) => Reply::error("ERR DB index is out of range"),
        None => Reply::error("ERR value is not an integer or out of range"),
    }
}

impl Hello {
    pub(super) fn to_args(&self) -> Vec<Bytes> {
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
    pub(super) fn to_args(&self) -> Vec<Bytes> {
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
