//! A TCP forwarder that can be cut: the real-network form of a partition.
//!
//! The original labs partitioned peers by giving peer `i` a private alias for peer `j`'s socket
//! and deleting it (SPEC §1.3). Over TCP the same idea is a [`Proxy`] per ordered pair: peer `i`
//! dials proxy `(i, j)`, which forwards to `j`. Cutting the proxy closes the connections it carries
//! and refuses new ones until it is restored, so `i` can no longer reach `j`, while `j` may still
//! reach `i` through its own proxy `(j, i)`: one-way cuts come for free. A delay can be set too
//! (the pbservice proxy of SPEC §1.5 holds each new connection for a while before forwarding).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The state a proxy forwards under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Link {
    /// When true, carried connections are closed and new ones refused.
    cut: bool,
    /// How long each new connection waits before it is forwarded.
    delay: Duration,
}

/// A running forwarder from its own listening address to a target. Dropping it stops it.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    link: Arc<watch::Sender<Link>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Forwards every connection accepted on `listener` to `target`.
    ///
    /// # Errors
    /// If the listener's local address cannot be read.
    pub fn spawn(listener: TcpListener, target: SocketAddr) -> std::io::Result<Proxy> {
        let addr = listener.local_addr()?;
        let link = Arc::new(watch::Sender::new(Link::default()));
        let task = tokio::spawn(accept_loop(listener, target, link.clone()));
        Ok(Proxy { addr, link, task })
    }

    /// The address to dial instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts (true) or restores (false) the link. Cutting closes every connection carried now.
    pub fn set_cut(&self, cut: bool) {
        self.link.send_modify(|link| link.cut = cut);
    }

    /// True while the link is cut.
    pub fn is_cut(&self) -> bool {
        self.link.borrow().cut
    }

    /// Holds each new connection for `delay` before forwarding it.
    pub fn set_delay(&self, delay: Duration) {
        self.link.send_modify(|link| link.delay = delay);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, link: Arc<watch::Sender<Link>>) {
    let mut forwarders = tokio::task::JoinSet::new();
    loop {
        let inbound = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and similar: wait a little rather than spin.
                tracing::warn!(%err, "proxy accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if link.borrow().cut {
            continue; // Dropping the stream refuses the connection.
        }
        forwarders.spawn(forward(inbound, target, link.subscribe()));
        while forwarders.try_join_next().is_some() {}
    }
}

/// Carries one connection until either side closes or the link is cut.
async fn forward(mut inbound: TcpStream, target: SocketAddr, mut link: watch::Receiver<Link>) {
    let delay = link.borrow().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    tokio::select! {
        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = link.wait_for(|l| l.cut) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn forwards_then_cuts_then_restores() {
        let target = echo_server().await;
        let proxy = Proxy::spawn(
            TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            target,
        )
        .expect("proxy");
        assert_eq!(round_trip(proxy.addr()).await.expect("forwarded"), b"ping");

        // A connection carried across the cut is closed by it.
        let mut carried = TcpStream::connect(proxy.addr()).await.expect("connect");
        carried.write_all(b"ab").await.expect("write");
        let mut two = [0u8; 2];
        carried.read_exact(&mut two).await.expect("echo before cut");
        proxy.set_cut(true);
        let mut rest = Vec::new();
        let closed = carried.read_to_end(&mut rest).await;
        assert!(
            closed.is_err() || rest.is_empty(),
            "cut must close carried connections"
        );
        assert!(
            round_trip(proxy.addr()).await.is_err(),
            "new connections refused while cut"
        );

        proxy.set_cut(false);
        assert_eq!(round_trip(proxy.addr()).await.expect("restored"), b"ping");
    }
}
