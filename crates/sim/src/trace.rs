//! The event trace: a running 64-bit hash over every event, and, when `SIM_TRACE=1`, one compact
//! status line per event on stderr (TigerBeetle `docs/internals/testing.md`).
//!
//! Two runs with the same seed must produce the same hash: a test compares them to prove the
//! simulation is deterministic. Each event contributes its time, kind, endpoints and the `Debug`
//! text of its message (the contract gives messages `Debug`, not `Hash`; the text is formatted
//! into one reused buffer, so it costs no allocation).

use crate::error::fmt_us;
use rpc::{ClientId, NodeId};
use std::fmt::{self, Debug, Write as _};

/// One end of a simulated message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// A server node.
    Node(NodeId),
    /// A client (clerk).
    Client(ClientId),
}

impl Endpoint {
    /// A compact number for hashing: nodes and clients never collide.
    fn code(self) -> u64 {
        match self {
            Endpoint::Node(id) => u64::from(id.0) << 1,
            Endpoint::Client(id) => (id.0 << 1) | 1,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Node(id) => fmt::Display::fmt(id, f),
            Endpoint::Client(id) => fmt::Display::fmt(id, f),
        }
    }
}

/// What happened. The discriminant is part of the hash, so variants may be added but never
/// renumbered without changing every recorded hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A node's tick.
    Tick = 1,
    /// A client's tick.
    ClientTick = 2,
    /// A peer `Send` handled by its receiver.
    Send = 3,
    /// A peer `Respond` handled by its receiver.
    Respond = 4,
    /// A client request handled by a node.
    Request = 5,
    /// A reply handled by a client.
    Reply = 6,
    /// A message dropped (the cause is in the text).
    Drop = 7,
    /// A client operation completed.
    Complete = 8,
    /// A client operation invoked.
    Invoke = 9,
    /// A test called into a node's local API.
    Call = 10,
    /// A fault verb (partition, crash, ...).
    Fault = 11,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Tick => "tick",
            Kind::ClientTick => "ctick",
            Kind::Send => "send",
            Kind::Respond => "respond",
            Kind::Request => "request",
            Kind::Reply => "reply",
            Kind::Drop => "DROP",
            Kind::Complete => "complete",
            Kind::Invoke => "invoke",
            Kind::Call => "call",
            Kind::Fault => "FAULT",
        }
    }
}

/// How much of a message's `Debug` text the trace hashes and prints. Formatting stops there, so a
/// megabyte value (SPEC §6.3 `TestDone` puts 1 MB values) costs no more than a small message, and
/// a status line stays one line. The time, kind and endpoints are always hashed in full.
pub const TRACE_TEXT_BYTES_MAX: usize = 128;

/// Collects `Debug` text up to [`TRACE_TEXT_BYTES_MAX`], then fails the formatting to stop it.
struct BoundedWriter<'a> {
    text: &'a mut String,
    truncated: bool,
}

impl fmt::Write for BoundedWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = TRACE_TEXT_BYTES_MAX - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        self.truncated = true;
        Err(fmt::Error)
    }
}

/// The running trace of one simulation.
#[derive(Debug)]
pub(crate) struct Trace {
    hash: u64,
    events: u64,
    /// Reused for each event's message text.
    text: String,
    /// Print a status line per event (`SIM_TRACE=1`).
    print: bool,
}

/// FxHash's multiplier: a fast, well-spread odd constant. Stability across platforms matters
/// here, not cryptographic strength.
const MIX_K: u64 = 0x517c_c1b7_2722_0a95;

impl Trace {
    pub(crate) fn new(print: bool) -> Self {
        Trace {
            hash: 0xcbf2_9ce4_8422_2325,
            events: 0,
            text: String::new(),
            print,
        }
    }

    /// Records one event. `msg` is the message or note, if the event carries one.
    pub(crate) fn record(
        &mut self,
        now_us: u64,
        kind: Kind,
        from: Option<Endpoint>,
        to: Option<Endpoint>,
        msg: Option<&dyn Debug>,
    ) {
        self.events += 1;
        self.mix(now_us);
        self.mix(kind as u64);
        self.mix(from.map_or(u64::MAX, Endpoint::code));
        self.mix(to.map_or(u64::MAX, Endpoint::code));
        self.text.clear();
        if let Some(msg) = msg {
            let mut writer = BoundedWriter {
                text: &mut self.text,
                truncated: false,
            };
            // An error here only means the text reached its bound and formatting stopped.
            let _ = write!(writer, "{msg:?}");
            if writer.truncated {
                self.text.push('…');
            }
            let text = std::mem::take(&mut self.text);
            self.mix_bytes(text.as_bytes());
            self.text = text;
        }
        if self.print {
            self.print_line(now_us, kind, from, to);
        }
    }

    fn print_line(&self, now_us: u64, kind: Kind, from: Option<Endpoint>, to: Option<Endpoint>) {
        let ends = match (from, to) {
            (Some(from), Some(to)) => format!("{from}->{to}"),
            (Some(one), None) | (None, Some(one)) => one.to_string(),
            (None, None) => "-".to_string(),
        };
        eprintln!(
            "{:>14} {:<8} {:<9} {}",
            fmt_us(now_us),
            kind.label(),
            ends,
            self.text
        );
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    fn mix(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(MIX_K);
    }

    fn mix_bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(
                chunk.try_into().expect("chunks_exact yields 8 bytes"),
            ));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(tail));
        self.mix(bytes.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_time_kind_endpoints_and_text() {
        let run = |now, kind, to, msg: &str| {
            let mut trace = Trace::new(false);
            trace.record(
                now,
                kind,
                Some(Endpoint::Node(NodeId(0))),
                Some(Endpoint::Node(NodeId(to))),
                Some(&msg),
            );
            trace.hash()
        };
        let base = run(5, Kind::Send, 1, "hello");
        assert_eq!(base, run(5, Kind::Send, 1, "hello"));
        assert_ne!(base, run(6, Kind::Send, 1, "hello"));
        assert_ne!(base, run(5, Kind::Respond, 1, "hello"));
        assert_ne!(base, run(5, Kind::Send, 2, "hello"));
        assert_ne!(base, run(5, Kind::Send, 1, "hellp"));
        assert_ne!(run(5, Kind::Send, 1, ""), run(5, Kind::Send, 1, "\0"));
    }

    #[test]
    fn long_messages_are_cut_at_the_bound() {
        let mut trace = Trace::new(false);
        let long = vec![7u8; 100_000];
        trace.record(1, Kind::Send, None, None, Some(&long));
        assert_eq!(trace.text.chars().count(), TRACE_TEXT_BYTES_MAX + 1);
        assert!(trace.text.ends_with('…'));
    }

    #[test]
    fn node_and_client_endpoints_differ() {
        assert_ne!(
            Endpoint::Node(NodeId(3)).code(),
            Endpoint::Client(ClientId(3)).code()
        );
    }
}
