//! One connection's own state (id, name, library, protocol) and the commands that read or
//! change it: `HELLO`, `CLIENT ...` and `RESET`.
//!
//! Sans-IO like the rest of the crate: the server keeps one [`ClientState`] per connection,
//! asks it to answer each command in the order the commands arrived, and encodes every later
//! reply in [`ClientState::protocol`].

use crate::command::{ClientCommand, Command, Hello, LibAttr};
use crate::reply::{Protocol, Reply};
use bytes::Bytes;

/// What `HELLO` reports as `server`: this implementation, not Redis.
pub const SERVER_NAME: &str = "dsys";

/// What `HELLO` and `INFO` report as the Redis version. Why 7.2.0: clients gate features on
/// the version (7.2 is when `CLIENT SETINFO` arrived); the commands we answer behave as in
/// that version of Redis.
pub const REDIS_VERSION: &str = "7.2.0";

/// The state of one client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientState {
    id: u64,
    name: Option<Bytes>,
    lib_name: Option<Bytes>,
    lib_ver: Option<Bytes>,
    protocol: Protocol,
}

impl ClientState {
    /// A new connection numbered `id` (unique within the server process), speaking RESP2.
    pub fn new(id: u64) -> Self {
        ClientState {
            id,
            name: None,
            lib_name: None,
            lib_ver: None,
            protocol: Protocol::Resp2,
        }
    }

    /// The connection's id, as `CLIENT ID` and `HELLO` report it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name set by `CLIENT SETNAME` or `HELLO ... SETNAME`, if any.
    pub fn name(&self) -> Option<&Bytes> {
        self.name.as_ref()
    }

    /// The protocol this connection's replies are to be encoded in, from the reply to the
    /// last command answered on.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Answers `HELLO`, `CLIENT ...` and `RESET`, changing the state as they say; `None` for
    /// every other command. `age_secs` is how long the connection has been open (the driver
    /// owns the clock), for `CLIENT INFO`.
    ///
    /// A `HELLO` that switches protocol is itself answered in the new one, as Redis does: the
    /// caller encodes this reply, and every later one, in [`ClientState::protocol`].
    pub fn answer(&mut self, command: &Command, age_secs: u64) -> Option<Reply> {
        Some(match command {
            Command::Hello(hello) => self.hello(hello),
            Command::Client(client) => self.client(client, age_secs),
            Command::Reset => {
                self.protocol = Protocol::Resp2;
                Reply::Simple("RESET".to_owned())
            }
            _ => return None,
        })
    }

    fn hello(&mut self, hello: &Hello) -> Reply {
        if let Some((user, _password)) = &hello.auth
            && &user[..] != b"default"
        {
            return Reply::error("WRONGPASS invalid username-password pair or user is disabled.");
        }
        if let Some(name) = &hello.setname {
            self.set_name(name);
        }
        if let Some(protocol) = hello.protocol {
            self.protocol = protocol;
        }
        let field = |name: &str, value: Reply| (Reply::bulk(name), value);
        Reply::Map(vec![
            field("server", Reply::bulk(SERVER_NAME)),
            field("version", Reply::bulk(REDIS_VERSION)),
            field("proto", Reply::Integer(self.protocol.version())),
            field("id", Reply::Integer(self.id_i64())),
            field("mode", Reply::bulk("standalone")),
            // Every replica takes writes (through the log), which is what "master" tells a
            // client; INFO says who leads the log.
            field("role", Reply::bulk("master")),
            field("modules", Reply::empty_array()),
        ])
    }

    fn client(&mut self, client: &ClientCommand, age_secs: u64) -> Reply {
        match client {
            ClientCommand::SetName(name) => {
                self.set_name(name);
                Reply::ok()
            }
            ClientCommand::GetName => self.name.clone().map_or(Reply::Null, Reply::Bulk),
            ClientCommand::Id => Reply::Integer(self.id_i64()),
            ClientCommand::SetInfo { attr, value } => {
                let slot = match attr {
                    LibAttr::Name => &mut self.lib_name,
                    LibAttr::Version => &mut self.lib_ver,
                };
                *slot = Some(value.clone());
                Reply::ok()
            }
            ClientCommand::Info => Reply::bulk(&self.info_line(age_secs)),
        }
    }

    /// The empty name clears the name, as in Redis.
    fn set_name(&mut self, name: &Bytes) {
        self.name = (!name.is_empty()).then(|| name.clone());
    }

    fn id_i64(&self) -> i64 {
        i64::try_from(self.id).unwrap_or(i64::MAX)
    }

    /// `CLIENT INFO`'s line, in Redis's field order. The values were checked to hold no
    /// spaces, so the line splits cleanly. The buffer and memory fields, which this server
    /// does not track, are 0: redis-py 5 reads every numeric field and fails without one.
    /// `idle` is 0 because the client is running this very command.
    fn info_line(&self, age_secs: u64) -> String {
        let text = |v: &Option<Bytes>| {
            v.as_ref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        format!(
            "id={} name={} age={age_secs} idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 \
             qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem=0 tot-mem=0 \
             user=default resp={} lib-name={} lib-ver={}\n",
            self.id,
            text(&self.name),
            self.protocol.version(),
            text(&self.lib_name),
            text(&self.lib_ver),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn cmd(args: &[&str]) -> Command {
        Command::from_args(
            args.iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        )
        .expect("non-empty")
    }

    /// Encodes `reply` the way the connection would after answering.
    fn wire(state: &ClientState, reply: &Reply) -> Vec<u8> {
        let mut dst = BytesMut::new();
        reply.encode_as(state.protocol(), &mut dst);
        dst.to_vec()
    }

    /// `HELLO 3` (what redis-py 8 sends first) switches to RESP3 and is answered with the
    /// server map in RESP3; `HELLO` alone describes without switching; `HELLO 2` goes back
    /// and answers the same fields as a flat array.
    #[test]
    fn hello_switches_protocol_and_describes_the_server() {
        let mut state = ClientState::new(7);
        let reply = state.answer(&cmd(&["HELLO", "3"]), 0).expect("answered");
        assert_eq!(state.protocol(), Protocol::Resp3);
        let want3 = "%7\r\n$6\r\nserver\r\n$4\r\ndsys\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n\
                     $5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
                     $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
        assert_eq!(String::from_utf8_lossy(&wire(&state, &reply)), want3);

        let reply = state.answer(&cmd(&["hello"]), 0).expect("answered");
        assert_eq!(state.protocol(), Protocol::Resp3);
        assert_eq!(String::from_utf8_lossy(&wire(&state, &reply)), want3);

        let reply = state.answer(&cmd(&["HELLO", "2"]), 0).expect("answered");
        assert_eq!(state.protocol(), Protocol::Resp2);
        let want2 = want3.replacen("%7", "*14", 1).replace(":3", ":2");
        assert_eq!(String::from_utf8_lossy(&wire(&state, &reply)), want2);
    }

    /// HELLO's options: AUTH as Redis's password-less default user, SETNAME as CLIENT
    /// SETNAME; a refused AUTH changes nothing.
    #[test]
    fn hello_auth_and_setname() {
        let mut state = ClientState::new(1);
        let reply = state.answer(
            &cmd(&["HELLO", "3", "AUTH", "bob", "pw", "SETNAME", "n"]),
            0,
        );
        assert_eq!(
            reply,
            Some(Reply::error(
                "WRONGPASS invalid username-password pair or user is disabled."
            ))
        );
        assert_eq!((state.protocol(), state.name()), (Protocol::Resp2, None));
        let hello = cmd(&["HELLO", "3", "auth", "default", "any", "setname", "app"]);
        assert!(matches!(state.answer(&hello, 0), Some(Reply::Map(_))));
        assert_eq!(state.protocol(), Protocol::Resp3);
        assert_eq!(state.name(), Some(&Bytes::from_static(b"app")));
    }

    /// CLIENT SETNAME/GETNAME/ID/SETINFO/INFO keep per-connection state; the empty name
    /// clears it and GETNAME then answers null.
    #[test]
    fn client_subcommands_keep_state() {
        let mut state = ClientState::new(42);
        let mut answer = |args: &[&str]| state.answer(&cmd(args), 5);
        assert_eq!(answer(&["CLIENT", "GETNAME"]), Some(Reply::Null));
        assert_eq!(
            answer(&["client", "setname", "worker-1"]),
            Some(Reply::ok())
        );
        assert_eq!(
            answer(&["CLIENT", "GETNAME"]),
            Some(Reply::bulk("worker-1"))
        );
        assert_eq!(answer(&["CLIENT", "ID"]), Some(Reply::Integer(42)));
        let setinfo = ["CLIENT", "SETINFO", "LIB-NAME", "redis-py"];
        assert_eq!(answer(&setinfo), Some(Reply::ok()));
        assert_eq!(
            answer(&["CLIENT", "SETINFO", "lib-ver", "8.1.0"]),
            Some(Reply::ok())
        );
        assert_eq!(
            answer(&["CLIENT", "INFO"]),
            Some(Reply::bulk(
                "id=42 name=worker-1 age=5 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 \
                 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem=0 tot-mem=0 \
                 user=default resp=2 lib-name=redis-py lib-ver=8.1.0\n"
            ))
        );
        assert_eq!(answer(&["CLIENT", "SETNAME", ""]), Some(Reply::ok()));
        assert_eq!(answer(&["CLIENT", "GETNAME"]), Some(Reply::Null));
        assert_eq!(answer(&["GET", "k"]), None);
        assert_eq!(answer(&["PING"]), None);
    }

    /// RESET goes back to RESP2 and answers `+RESET`; the name stays, as in Redis.
    #[test]
    fn reset_goes_back_to_resp2() {
        let mut state = ClientState::new(3);
        state.answer(&cmd(&["HELLO", "3", "SETNAME", "x"]), 0);
        assert_eq!(
            state.answer(&cmd(&["RESET"]), 0),
            Some(Reply::Simple("RESET".into()))
        );
        assert_eq!(state.protocol(), Protocol::Resp2);
        assert_eq!(state.name(), Some(&Bytes::from_static(b"x")));
    }
}
