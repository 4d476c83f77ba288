//! Messages and requests by address (driver contract, step 6) over real sockets: a node
//! messages a node outside its peer list, which sees it from `NodeId::EXTERNAL` and answers to
//! the reply address the message carries; a client reaches a server by address.

use crate::common::{Req, Resp, TICK, Toy, bind, bounded, config, init_tracing};
use rpc::{
    Client, ClientEffect, ClientOutbox, ClientRunner, Node, NodeId, NodeOutbox, ReqId, RpcClient,
    spawn_node,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A message between two [`Relay`]s, by address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum RelayMsg {
    /// Answer with `Pong` at `reply_to`.
    Ping { reply_to: String },
    /// The answer; `external` says whether the `Ping` came from `NodeId::EXTERNAL`.
    Pong { external: bool },
}

/// A request to a [`Relay`]: ping the node at `to`, saying to answer at `reply_to`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ask {
    to: String,
    reply_to: String,
}

/// A node that pings other nodes by address and answers pings by address.
#[derive(Debug, Default)]
struct Relay {
    asking: Vec<ReqId>,
}

impl Node for Relay {
    type Msg = RelayMsg;
    type Req = Ask;
    type Resp = (bool, bool);

    fn on_message(&mut self, from: NodeId, msg: RelayMsg, out: &mut NodeOutbox<Self>) {
        match msg {
            RelayMsg::Ping { reply_to } => {
                let external = from == NodeId::EXTERNAL;
                out.send_to(reply_to, RelayMsg::Pong { external });
                // Also try to answer by id: it must go nowhere (a Respond to EXTERNAL).
                out.respond(from, RelayMsg::Pong { external: false });
            }
            RelayMsg::Pong { external } => {
                for req in self.asking.drain(..) {
                    out.reply(req, (external, from == NodeId::EXTERNAL));
                }
            }
        }
    }

    fn on_request(&mut self, req: ReqId, ask: Ask, out: &mut NodeOutbox<Self>) {
        self.asking.push(req);
        let ping = RelayMsg::Ping {
            reply_to: ask.reply_to,
        };
        out.send_to(ask.to, ping);
    }

    fn on_tick(&mut self, _: &mut NodeOutbox<Self>) {}
}

/// Two nodes, each a cluster of one (neither in the other's peer list), exchange messages by
/// address both ways, and each sees the other's message from EXTERNAL.
#[tokio::test]
async fn nodes_outside_each_others_peer_lists_talk_by_address() {
    init_tracing();
    bounded(async {
        let (mut listeners, addrs) = bind(2).await;
        let b_listener = listeners.pop().expect("two");
        let a_listener = listeners.pop().expect("two");
        let a = spawn_node(Relay::default(), config(0, a_listener, &addrs[..1], None));
        let _b = spawn_node(Relay::default(), config(0, b_listener, &addrs[1..], None));
        let client = RpcClient::<Ask, (bool, bool)>::new(addrs[0]);
        let ask = Ask {
            to: addrs[1].to_string(),
            reply_to: addrs[0].to_string(),
        };
        let answer = client
            .call(ask, Duration::from_secs(5))
            .await
            .expect("answered");
        assert_eq!(answer, (true, true), "both ways from EXTERNAL");
        // A name that is not ip:port is refused at once, and the node goes on.
        let bad = Ask {
            to: "not an address".into(),
            reply_to: addrs[0].to_string(),
        };
        assert!(client.call(bad, Duration::from_millis(300)).await.is_err());
        assert!(!a.is_finished());
    })
    .await;
}

/// A client core that sends one echo to a server by address.
#[derive(Debug, Default)]
struct EchoAt;

impl Client for EchoAt {
    type Op = String;
    type Output = (NodeId, Resp);
    type Req = Req;
    type Resp = Resp;

    fn invoke(&mut self, addr: String, out: &mut ClientOutbox<Self>) {
        out.push(ClientEffect::RequestTo {
            addr,
            req: Req::Echo("hi".into()),
        });
    }

    fn on_response(&mut self, from: NodeId, resp: Resp, out: &mut ClientOutbox<Self>) {
        out.push(ClientEffect::Complete((from, resp)));
    }

    fn on_tick(&mut self, _: &mut ClientOutbox<Self>) {}
}

/// `ClientRunner` sends a request by address to a server not in its list, and the answer
/// comes from EXTERNAL.
#[tokio::test]
async fn a_runner_reaches_a_server_by_address() {
    init_tracing();
    bounded(async {
        let (mut listeners, addrs) = bind(1).await;
        let _node = spawn_node(
            Toy::new(NodeId(0), 1),
            config(0, listeners.pop().expect("one"), &addrs, None),
        );
        let mut runner = ClientRunner::new(EchoAt, &[], TICK);
        let (from, resp) = runner.run(addrs[0].to_string()).await;
        assert_eq!(from, NodeId::EXTERNAL);
        assert!(matches!(resp, Resp::Echo { text, .. } if text == "hi"));
    })
    .await;
}
