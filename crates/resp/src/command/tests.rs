//! Parsing and local replies of the front door's commands, checked against Redis's behaviour.

use super::*;
use crate::reply::Protocol;

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
    assert_eq!(cmd(&["gEt", "k"]), Some(Command::get(k.clone())));
    assert_eq!(
        cmd(&["set", "k", "v"]),
        Some(Command::set(k.clone(), v.clone()))
    );
    assert_eq!(cmd(&["Append", "k", "v"]), Some(Command::append(k, v)));
    assert_eq!(cmd(&["ping"]), Some(Command::Ping { message: None }));
    assert_eq!(
        cmd(&["PING", "hi"]),
        Some(Command::Ping {
            message: Some("hi".into())
        })
    );
    for bad in [&["ping", "a", "b"][..], &["multi", "x"], &["watch"]] {
        assert_eq!(
            cmd(bad),
            Some(Command::WrongArity {
                name: bad[0].into()
            }),
            "{bad:?}"
        );
    }
    // Store commands are checked by `keyspace`, with Redis's texts (lower-case names).
    for (bad, name) in [
        (&["get"][..], "get"),
        (&["GET", "a", "b"], "get"),
        (&["set", "k"], "set"),
        (&["APPEND", "k", "v", "x"], "append"),
    ] {
        let Some(Command::Invalid { error, .. }) = cmd(bad) else {
            panic!("{bad:?} is refused");
        };
        assert_eq!(
            error,
            format!("ERR wrong number of arguments for '{name}' command")
        );
    }
    assert_eq!(
        cmd(&["NOPE"]),
        Some(Command::Unknown {
            name: "NOPE".into()
        })
    );
    assert_eq!(
        cmd(&["FLUSHALL"]),
        Some(Command::Store(keyspace::Cmd::FlushDb))
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
    let hello =
        |protocol, auth: Option<(&'static str, &'static str)>, setname: Option<&'static str>| {
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
