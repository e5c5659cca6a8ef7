//! How an exchange failed, who is at fault, and the one mapping from a failure to the status
//! answered to the client and the termination state recorded (used by the response writer,
//! the access log and the metrics alike).
//!
//! What it does not do: perform I/O.

use crate::http::framing::ChunkError;
use crate::http::request::RequestError;
use crate::sli::{Cause, Phase, Termination};
use crate::upstream::ConnectError;

use super::body::BodyFail;
use super::io::IoFail;

/// Why an exchange did not complete normally, grouped by who is at fault.
#[derive(Debug)]
pub enum Failure {
    /// Client side: the client closed the connection during `Phase`.
    ClientClosed(Phase),
    /// Client side: the client was silent past its timeout during `Phase`.
    ClientTimeout(Phase),
    /// Client side: the request head was refused.
    BadRequest(RequestError),
    /// Client side: the request body's chunked framing was invalid.
    BadBody(ChunkError),
    /// Cache layer: no connection could be opened.
    Connect(ConnectError),
    /// Proxy: the upstream pool stayed at its cap for the whole queue timeout.
    QueueTimeout,
    /// Cache layer: closed the connection during `Phase`.
    UpstreamClosed(Phase),
    /// Cache layer: silent past the server timeout during `Phase`.
    UpstreamTimeout(Phase),
    /// Cache layer: sent an invalid response head or body framing.
    BadResponse,
    /// Proxy: the shard is stopping and its grace period ran out.
    Killed(Phase),
}

impl Failure {
    /// Maps a failed client read during `phase`.
    pub fn from_client(fail: IoFail, phase: Phase) -> Self {
        match fail {
            IoFail::Closed => Failure::ClientClosed(phase),
            IoFail::TimedOut => Failure::ClientTimeout(phase),
        }
    }

    /// Maps a failed upstream read or write during `phase`.
    pub fn from_upstream(fail: IoFail, phase: Phase) -> Self {
        match fail {
            IoFail::Closed => Failure::UpstreamClosed(phase),
            IoFail::TimedOut => Failure::UpstreamTimeout(phase),
        }
    }

    /// Maps a failed request-body transfer (client → upstream).
    pub fn from_request_body(fail: BodyFail) -> Self {
        match fail {
            BodyFail::Read(f) => Failure::from_client(f, Phase::Data),
            BodyFail::Write(f) => Failure::from_upstream(f, Phase::Data),
            BodyFail::Invalid(e) => Failure::BadBody(e),
        }
    }

    /// Maps a failed response-body transfer (upstream → client).
    pub fn from_response_body(fail: BodyFail) -> Self {
        match fail {
            BodyFail::Read(f) => Failure::from_upstream(f, Phase::Data),
            BodyFail::Write(f) => Failure::from_client(f, Phase::Data),
            BodyFail::Invalid(_) => Failure::BadResponse,
        }
    }

    /// The status to answer if no response head was sent yet (`None`: just close), and the
    /// termination state.
    pub fn verdict(&self) -> (Option<u16>, Termination) {
        use Cause::*;
        let t = Termination::new;
        match self {
            Failure::ClientClosed(p) => (None, t(ClientAbort, *p)),
            Failure::ClientTimeout(Phase::Request) => (Some(408), t(ClientTimeout, Phase::Request)),
            Failure::ClientTimeout(p) => (None, t(ClientTimeout, *p)),
            Failure::BadRequest(e) => (Some(e.status()), t(ProxyRefused, Phase::Request)),
            Failure::BadBody(_) => (Some(400), t(ProxyRefused, Phase::Data)),
            Failure::Connect(ConnectError::TimedOut { .. }) => {
                (Some(503), t(ServerTimeout, Phase::Connect))
            }
            Failure::Connect(ConnectError::Refused { .. }) => {
                (Some(503), t(ServerAbort, Phase::Connect))
            }
            Failure::QueueTimeout => (Some(503), t(ServerTimeout, Phase::Queue)),
            Failure::UpstreamClosed(p) => (Some(502), t(ServerAbort, *p)),
            Failure::UpstreamTimeout(p) => (Some(504), t(ServerTimeout, *p)),
            Failure::BadResponse => (Some(502), t(ProxyRefused, Phase::Headers)),
            Failure::Killed(p) => (Some(503), t(Killed, *p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn code(f: Failure) -> (Option<u16>, String) {
        let (s, t) = f.verdict();
        (s, t.to_string())
    }

    #[test]
    fn mapping_table() {
        assert_eq!(
            code(Failure::ClientTimeout(Phase::Request)),
            (Some(408), "cR".into())
        );
        assert_eq!(
            code(Failure::ClientClosed(Phase::Request)),
            (None, "CR".into())
        );
        assert_eq!(
            code(Failure::BadRequest(RequestError::HeadTooLarge)),
            (Some(431), "PR".into())
        );
        assert_eq!(
            code(Failure::Connect(ConnectError::Refused {
                addr: "unix:/x".into(),
                source: std::io::ErrorKind::NotFound.into()
            })),
            (Some(503), "SC".into())
        );
        assert_eq!(
            code(Failure::Connect(ConnectError::TimedOut {
                addr: "127.0.0.1:1".into(),
                after: Duration::from_secs(3)
            })),
            (Some(503), "sC".into())
        );
        assert_eq!(
            code(Failure::UpstreamTimeout(Phase::Headers)),
            (Some(504), "sH".into())
        );
        assert_eq!(
            code(Failure::UpstreamClosed(Phase::Headers)),
            (Some(502), "SH".into())
        );
        assert_eq!(
            code(Failure::from_response_body(BodyFail::Write(IoFail::Closed))),
            (None, "CD".into())
        );
        assert_eq!(code(Failure::Killed(Phase::Data)), (Some(503), "KD".into()));
        assert_eq!(code(Failure::QueueTimeout), (Some(503), "sQ".into()));
    }
}
