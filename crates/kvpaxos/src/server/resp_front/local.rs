//! The kvpaxos backend of the front door: each connection is a client of the local replica,
//! with one session of its own in the log.

use super::{Answered, Backend};
use crate::msg::{KvCommand, KvError, KvOutput};
use crate::server::{SubmitError, Submitter};
use futures::FutureExt;
use futures::future::BoxFuture;
use keyspace::Batch;
use resp::Reply;
use std::time::Duration;

/// The local replica, as the front door's [`Backend`].
#[derive(Clone)]
pub struct LocalReplica {
    submitter: Submitter,
}

impl LocalReplica {
    /// The backend that runs commands on the replica `submitter` reaches.
    pub fn new(submitter: Submitter) -> Self {
        LocalReplica { submitter }
    }
}

/// A connection's session in the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Session {
    /// The session, once opened.
    id: Option<u64>,
    /// Its last command number.
    seq: u64,
}

impl Backend for LocalReplica {
    type Session = Session;

    /// Sends `batch` as the session's next command, opening the session first if needed.
    fn run(
        &self,
        mut session: Session,
        batch: Batch,
        deadline: Duration,
    ) -> BoxFuture<'static, Answered<Session>> {
        let submitter = self.submitter.clone();
        // The number is spent whatever happens, so a batch that timed out can never apply
        // after a later one.
        session.seq = if session.id.is_some() {
            session.seq + 1
        } else {
            1
        };
        let count = batch.cmds.len();
        async move {
            let started = tokio::time::Instant::now();
            let id = match session.id {
                Some(id) => id,
                None => match submitter.register(deadline).await {
                    Ok(Ok(id)) => id,
                    Ok(Err(err)) => return (Err(refused_reply(err)), Session::default()),
                    Err(err) => return (Err(no_answer_reply(err)), Session::default()),
                },
            };
            session.id = Some(id);
            let deadline = deadline.saturating_sub(started.elapsed());
            let cmd = KvCommand::Redis(batch);
            match submitter.submit(id, session.seq, cmd, deadline).await {
                Ok(Ok(KvOutput::Redis(values))) if values.len() == count => (Ok(values), session),
                Ok(Ok(other)) => (
                    Err(Reply::error(format!("ERR the store answered {other:?}"))),
                    session,
                ),
                // An evicted session ran nothing; the next batch opens a new one.
                Ok(Err(KvError::SessionExpired)) => (
                    Err(refused_reply(KvError::SessionExpired)),
                    Session::default(),
                ),
                Ok(Err(err)) => (Err(refused_reply(err)), session),
                Err(err) => (Err(no_answer_reply(err)), session),
            }
        }
        .boxed()
    }

    fn info(&self, replication: bool, keyspace: bool) -> BoxFuture<'static, Result<String, Reply>> {
        let submitter = self.submitter.clone();
        async move {
            let status = submitter.status().await.map_err(no_answer_reply)?;
            let mut text = String::new();
            if replication {
                text.push_str(&status.replication_info());
            }
            if replication && keyspace {
                text.push_str("\r\n");
            }
            if keyspace {
                text.push_str(&status.keyspace_info());
            }
            Ok(text)
        }
        .boxed()
    }
}

/// The reply for a request the replica refused: it did not run.
fn refused_reply(err: KvError) -> Reply {
    match err {
        KvError::Busy => Reply::error("TRYAGAIN the replica is busy: the command did not run"),
        KvError::SessionExpired => Reply::error(
            "TRYAGAIN the connection's session was evicted (many clients came since): \
             the command did not run",
        ),
        KvError::Unavailable => Reply::error(format!(
            "CLUSTERDOWN {err}: the command did not run; try another replica"
        )),
    }
}

/// The reply for a request that got no answer: it may have run.
fn no_answer_reply(err: SubmitError) -> Reply {
    match err {
        SubmitError::Timeout => {
            Reply::error("TIMEOUT no answer from the log in time (the command may still happen)")
        }
        SubmitError::Shutdown => Reply::error(
            "TIMEOUT the replica stopped or dropped the request (the command may have happened)",
        ),
    }
}
