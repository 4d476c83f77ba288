//! Clients inside the simulation: their bookkeeping, and [`NoClient`] for node-only runs.

use rpc::{Client, ClientOutbox, Node, NodeId};
use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;

/// A finished client operation, with the virtual instants that bound it: what a linearizability
/// checker needs from each operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion<O> {
    /// The client's result.
    pub output: O,
    /// Virtual time of the `invoke`.
    pub invoked_at_us: u64,
    /// Virtual time of the `Complete` effect.
    pub completed_at_us: u64,
}

/// A client core and the operation it is working on.
pub(crate) struct ClientSlot<C: Client> {
    pub(crate) client: C,
    /// When the operation in flight was invoked; `None` when the client is idle.
    pub(crate) invoked_at_us: Option<u64>,
    /// The last finished operation, until the test takes it.
    pub(crate) completion: Option<Completion<C::Output>>,
}

impl<C: Client> ClientSlot<C> {
    pub(crate) fn new(client: C) -> Self {
        ClientSlot {
            client,
            invoked_at_us: None,
            completion: None,
        }
    }
}

/// The client type of a simulation without clients (the Paxos library is driven through its
/// local API with [`Sim::call`](crate::Sim::call)). It has no values, so no such client can
/// ever be added.
pub struct NoClient<N> {
    never: Infallible,
    _node: PhantomData<fn() -> N>,
}

impl<N> fmt::Debug for NoClient<N> {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.never {}
    }
}

impl<N: Node> Client for NoClient<N> {
    type Op = Infallible;
    type Output = Infallible;
    type Req = N::Req;
    type Resp = N::Resp;

    fn invoke(&mut self, op: Infallible, _: &mut ClientOutbox<Self>) {
        match op {}
    }

    fn on_response(&mut self, _: NodeId, _: N::Resp, _: &mut ClientOutbox<Self>) {
        match self.never {}
    }

    fn on_tick(&mut self, _: &mut ClientOutbox<Self>) {
        match self.never {}
    }
}
