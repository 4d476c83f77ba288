//! The command table: what `COMMAND`, `COMMAND COUNT`, `COMMAND INFO` and `COMMAND DOCS`
//! report, for clients that probe the server before using it.

use crate::reply::Reply;
use bytes::Bytes;

/// One command as `COMMAND INFO` describes it.
struct Entry {
    /// Lower case, as Redis reports names.
    name: &'static str,
    /// Arguments including the name; negative means "at least that many".
    arity: i64,
    /// Redis's command flags (`readonly`, `write`, `fast`, ...).
    flags: &'static [&'static str],
    /// Position of the first key argument (0: none).
    first_key: i64,
    /// Position of the last key argument (-1: the last argument).
    last_key: i64,
}

/// The commands about the connection and transactions; the store's come from
/// [`keyspace::COMMANDS`].
#[rustfmt::skip]
const CONNECTION: [Entry; 16] = [
    Entry { name: "ping", arity: -1, flags: &["fast"], first_key: 0, last_key: 0 },
    Entry { name: "echo", arity: 2, flags: &["fast"], first_key: 0, last_key: 0 },
    Entry { name: "info", arity: -1, flags: &["loading", "stale"], first_key: 0, last_key: 0 },
    Entry { name: "config", arity: -2, flags: &["admin", "loading", "stale"], first_key: 0, last_key: 0 },
    Entry { name: "command", arity: -1, flags: &["loading", "stale"], first_key: 0, last_key: 0 },
    Entry { name: "hello", arity: -1, flags: &["loading", "stale", "fast", "no_auth"], first_key: 0, last_key: 0 },
    Entry { name: "client", arity: -2, flags: &["loading", "stale"], first_key: 0, last_key: 0 },
    Entry { name: "select", arity: 2, flags: &["loading", "stale", "fast"], first_key: 0, last_key: 0 },
    Entry { name: "auth", arity: -2, flags: &["noscript", "loading", "stale", "fast", "no_auth"], first_key: 0, last_key: 0 },
    Entry { name: "quit", arity: -1, flags: &["loading", "stale", "fast", "no_auth"], first_key: 0, last_key: 0 },
    Entry { name: "reset", arity: 1, flags: &["loading", "stale", "fast", "no_auth"], first_key: 0, last_key: 0 },
    Entry { name: "multi", arity: 1, flags: &["noscript", "loading", "stale", "fast"], first_key: 0, last_key: 0 },
    Entry { name: "exec", arity: 1, flags: &["noscript", "loading", "stale", "skip_slowlog"], first_key: 0, last_key: 0 },
    Entry { name: "discard", arity: 1, flags: &["noscript", "loading", "stale", "fast"], first_key: 0, last_key: 0 },
    Entry { name: "watch", arity: -2, flags: &["noscript", "loading", "stale", "fast"], first_key: 1, last_key: -1 },
    Entry { name: "unwatch", arity: 1, flags: &["noscript", "loading", "stale", "fast"], first_key: 0, last_key: 0 },
];

/// Every command the front door understands: the connection's, then the store's.
fn table() -> impl Iterator<Item = Entry> {
    CONNECTION
        .into_iter()
        .chain(keyspace::COMMANDS.iter().map(|&(name, arity, writes)| {
            let keyless = ["dbsize", "keys", "scan", "flushdb", "flushall"].contains(&name);
            let multi_key = ["del", "unlink", "exists", "mget", "mset", "msetnx"].contains(&name);
            let flags: &'static [&'static str] = if writes {
                &["write", "denyoom"]
            } else {
                &["readonly", "fast"]
            };
            Entry {
                name,
                arity,
                flags,
                first_key: if keyless { 0 } else { 1 },
                last_key: match (keyless, multi_key) {
                    (true, _) => 0,
                    (false, true) => -1,
                    (false, false) => 1,
                },
            }
        }))
}

/// The reply to `COMMAND [subcommand ...]`.
///
/// `COMMAND` lists every entry, `COUNT` counts them, `INFO name ...` gives each entry or null,
/// `LIST` the names, and `DOCS` the empty map: redis-cli asks for docs at start only to show
/// hints, and carries on without them.
pub(crate) fn command_reply(args: &[Bytes]) -> Reply {
    let Some(sub) = args.first() else {
        return Reply::Array(table().map(|e| info(&e)).collect());
    };
    let is = |expected: &str| sub.eq_ignore_ascii_case(expected.as_bytes());
    if is("DOCS") {
        Reply::Map(Vec::new())
    } else if is("COUNT") && args.len() == 1 {
        Reply::Integer(i64::try_from(table().count()).unwrap_or(i64::MAX))
    } else if is("LIST") && args.len() == 1 {
        Reply::Array(table().map(|e| Reply::bulk(e.name)).collect())
    } else if is("INFO") {
        let names = &args[1..];
        if names.is_empty() {
            return Reply::Array(table().map(|e| info(&e)).collect());
        }
        Reply::Array(
            names
                .iter()
                .map(|n| find(n).map_or(Reply::Null, |e| info(&e)))
                .collect(),
        )
    } else if is("COUNT") || is("LIST") {
        let full = [&b"command|"[..], sub].concat();
        Reply::wrong_arity(&full)
    } else {
        let sub = String::from_utf8_lossy(&sub[..sub.len().min(128)]).into_owned();
        Reply::error(format!("ERR unknown subcommand '{sub}'. Try COMMAND HELP."))
    }
}

fn find(name: &[u8]) -> Option<Entry> {
    table().find(|e| name.eq_ignore_ascii_case(e.name.as_bytes()))
}

/// An entry in Redis 7's ten-element shape: name, arity, flags, first key, last key, step,
/// ACL categories, tips, key specs, subcommands (the last four empty).
fn info(entry: &Entry) -> Reply {
    let (first, last) = (entry.first_key, entry.last_key);
    // MSET's keys are every other argument.
    let step = match (first, entry.name) {
        (0, _) => 0,
        (_, "mset" | "msetnx") => 2,
        _ => 1,
    };
    Reply::Array(vec![
        Reply::bulk(entry.name),
        Reply::Integer(entry.arity),
        Reply::Array(
            entry
                .flags
                .iter()
                .map(|f| Reply::Simple((*f).to_owned()))
                .collect(),
        ),
        Reply::Integer(first),
        Reply::Integer(last),
        Reply::Integer(step),
        Reply::empty_array(),
        Reply::empty_array(),
        Reply::empty_array(),
        Reply::empty_array(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(args: &[&str]) -> Reply {
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        command_reply(&args)
    }

    /// Every command the parser knows is in the table, and only those.
    #[test]
    fn table_lists_exactly_the_known_commands() {
        for entry in table() {
            let name = Bytes::from_static(entry.name.as_bytes());
            let command = crate::Command::from_args(vec![name]);
            assert!(
                !matches!(command, Some(crate::Command::Unknown { .. }) | None),
                "{}",
                entry.name
            );
        }
        let count = table().count();
        assert_eq!(reply(&["COUNT"]), Reply::Integer(count as i64));
        let Reply::Array(all) = reply(&[]) else {
            panic!("COMMAND answers an array");
        };
        assert_eq!(all.len(), count);
    }

    /// `COMMAND INFO` answers in order, null for a name it does not know; the entry has the
    /// ten elements Redis 7 sends.
    #[test]
    fn info_answers_each_name_or_null() {
        let Reply::Array(items) = reply(&["info", "GET", "nope"]) else {
            panic!("COMMAND INFO answers an array");
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], Reply::Null);
        let Reply::Array(get) = &items[0] else {
            panic!("an entry is an array");
        };
        assert_eq!(get.len(), 10);
        assert_eq!(get[0], Reply::bulk("get"));
        assert_eq!(get[1], Reply::Integer(2));
        assert_eq!(
            get[3..6],
            [Reply::Integer(1), Reply::Integer(1), Reply::Integer(1)]
        );
    }

    /// DOCS is the empty map (what redis-cli accepts), LIST the names, and misuse gets
    /// Redis's errors.
    #[test]
    fn docs_list_and_errors() {
        assert_eq!(reply(&["DOCS"]), Reply::Map(Vec::new()));
        assert_eq!(reply(&["docs", "get"]), Reply::Map(Vec::new()));
        let Reply::Array(names) = reply(&["LIST"]) else {
            panic!("COMMAND LIST answers an array");
        };
        assert!(names.contains(&Reply::bulk("hello")));
        assert_eq!(
            reply(&["COUNT", "x"]),
            Reply::error("ERR wrong number of arguments for 'command|count' command")
        );
        assert_eq!(
            reply(&["GETKEYS", "GET", "k"]),
            Reply::error("ERR unknown subcommand 'GETKEYS'. Try COMMAND HELP.")
        );
    }
}
