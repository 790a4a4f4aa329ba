//! Routing: which connection each HTTPS request goes on, as a pure state machine.
//!
//! [`Routing`] knows, per origin (`host:port`), the protocol its server chose by ALPN and,
//! for HTTP/2, its *lanes*: the connections its streams are spread over, each in one of two
//! states (connecting, open) with the streams it carries and the server's stream limit on it.
//! It does no I/O, reads no clock and takes no lock: the shell (`origins.rs`, `lanes.rs`) owns
//! the sockets, tasks and hyper's handles, tells it what happened (a connection made, failed or
//! closed, a stream ended, a limit read) and asks it where a request goes. A lane carries a
//! link of the shell's choosing in each state: `W` while connecting (what its waiters watch;
//! dropped or handed back when the lane opens or goes, which is what wakes them) and `S` once
//! open (what sends on it).
//!
//! The rules:
//! - An origin whose protocol is **unknown** gets one connection offering `h2` and `http/1.1`
//!   (the *probe*); every request waits for it, so a burst costs one handshake. A request that
//!   waited already and finds the protocol unknown again goes through the shared pool.
//! - An **HTTP/1.1** origin's requests go through the shared pool.
//! - An **HTTP/2** origin's requests go on the first lane with room: fewer streams than
//!   `streams_per_connection` and than the server allows on it (or, while its settings are
//!   unread, than the origin's other connections last allowed). When none has room, a new lane
//!   is opened, up to [`MAX_LANES`]; past that the least busy lane takes the stream.
//! - A lane whose connection ended (GOAWAY, EOF, error, idle close) is removed at once: it is
//!   never chosen again, and its id is never reused.
//! - Past [`MAX_ORIGINS`] origins, those with nothing in flight are forgotten.

use std::collections::HashMap;

#[cfg(test)]
mod tests;

/// How many origins are remembered; past this, origins with nothing in flight are forgotten.
pub(crate) const MAX_ORIGINS: usize = 64;
/// The most lanes (HTTP/2 connections) per origin; past this, the least busy lane takes more.
pub(crate) const MAX_LANES: usize = 256;

/// What is known of an origin's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Unknown,
    Http1,
    Http2,
}

/// A lane, for the life of the [`Routing`] (ids are never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct LaneId(u64);

/// Where a request goes.
#[derive(Debug)]
pub(crate) enum Route<'a, W, S> {
    /// Through the shared pool.
    Pool,
    /// On this open lane; the stream counts on it until [`Routing::release`].
    Send { lane: LaneId, link: &'a S },
    /// Wait for this lane's connection, holding a place on it until [`Routing::release`].
    /// `connect` is set for the request that must have the connection made.
    Wait {
        lane: LaneId,
        link: &'a W,
        connect: Option<Connect>,
    },
}

/// A lane's connection to make.
/// How a request asks to be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// Its first routing.
    First,
    /// Again: it waited for a lane, or was turned away unprocessed (it starts no probe).
    Again,
    /// Its first routing, on a connection of its own: the retry of a request that got no
    /// response head in time, whose connection may be why. An HTTP/2 origin opens a new lane
    /// for it (its other lanes go on carrying their streams).
    Fresh,
    /// Again, on this lane (the one it waited for) if it has room.
    On(LaneId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Connect {
    /// Offer `h2` and `http/1.1` (the origin's protocol is unknown), not `h2` alone.
    pub(crate) probe: bool,
}

/// The HTTPS origins and their lanes.
#[derive(Debug)]
pub(crate) struct Routing<W, S> {
    origins: HashMap<Box<str>, Origin>,
    lanes: HashMap<LaneId, Lane<W, S>>,
    next_lane: u64,
    /// What a new origin starts as: `Unknown`, or the one protocol offered.
    first: Protocol,
    streams_per_connection: usize,
}

#[derive(Debug)]
struct Origin {
    protocol: Protocol,
    /// Oldest first: the first with room is chosen, so old lanes fill and new ones idle out.
    lanes: Vec<LaneId>,
    /// The stream limit last read on one of the origin's connections: what a lane whose own
    /// limit is not known yet is held to.
    learned: Option<usize>,
}

#[derive(Debug)]
struct Lane<W, S> {
    origin: Box<str>,
    state: LaneState<W, S>,
    /// Streams in flight and places held by waiting requests.
    streams: usize,
}

#[derive(Debug)]
enum LaneState<W, S> {
    Connecting(W),
    /// `limit`: the server's `SETTINGS_MAX_CONCURRENT_STREAMS` on this connection, once read.
    Open {
        limit: Option<usize>,
        link: S,
    },
}

impl<W, S> Lane<W, S> {
    fn is_open(&self) -> bool {
        matches!(self.state, LaneState::Open { .. })
    }
}

impl<W, S> Routing<W, S> {
    /// `first`: the protocol of a new origin (`Unknown` when both are offered).
    pub(crate) fn new(first: Protocol, streams_per_connection: usize) -> Self {
        Self {
            origins: HashMap::new(),
            lanes: HashMap::new(),
            next_lane: 0,
            first,
            streams_per_connection: streams_per_connection.max(1),
        }
    }

    /// Where a request to `origin` goes, asked as `ask` says. `connecting` makes the link of a
    /// lane that is created to connect.
    pub(crate) fn route(
        &mut self,
        origin: &str,
        ask: Ask,
        connecting: impl FnOnce() -> W,
    ) -> Route<'_, W, S> {
        if !self.origins.contains_key(origin) && self.origins.len() >= MAX_ORIGINS {
            self.forget_idle_origins();
        }
        let first = self.first;
        let entry = self.origins.entry(origin.into()).or_insert(Origin {
            protocol: first,
            lanes: Vec::new(),
            learned: None,
        });
        let again = matches!(ask, Ask::Again | Ask::On(_));
        let chosen = match entry.protocol {
            Protocol::Http1 => None,
            Protocol::Unknown if again => None,
            // Every request waits on the probe (the origin's only lane while it is unknown).
            Protocol::Unknown => Some(entry.lanes.first().copied()),
            // A connection of its own, while the origin may have more.
            Protocol::Http2 if ask == Ask::Fresh && entry.lanes.len() < MAX_LANES => Some(None),
            Protocol::Http2 => match ask {
                Ask::On(lane) if self.has_room(origin, lane) => Some(Some(lane)),
                _ => Some(self.lane_with_room(origin)),
            },
        };
        let Some(chosen) = chosen else {
            return Route::Pool;
        };
        let (lane, connect) = match chosen {
            Some(lane) => (lane, None),
            None => {
                let probe = self.origin(origin).protocol == Protocol::Unknown;
                (self.add_lane(origin, connecting()), Some(Connect { probe }))
            }
        };
        let state = self.lanes.get_mut(&lane).expect("a lane of the origin");
        state.streams += 1;
        match &state.state {
            LaneState::Open { link, .. } => Route::Send { lane, link },
            LaneState::Connecting(link) => Route::Wait {
                lane,
                link,
                connect,
            },
        }
    }

    /// A stream on `lane` ended, or a request that waited on it let its place go.
    pub(crate) fn release(&mut self, lane: LaneId) {
        if let Some(lane) = self.lanes.get_mut(&lane) {
            lane.streams = lane.streams.saturating_sub(1);
        }
    }

    /// `lane`'s HTTP/2 connection is made; `limit` is the server's stream limit on it if its
    /// settings were read. `Ok` with the waiters' link; `Err` gives `link` back when the lane
    /// is gone (its origin forgotten) or was open already: the shell lets that connection go.
    pub(crate) fn opened(&mut self, lane: LaneId, limit: Option<usize>, link: S) -> Result<W, S> {
        let Some(state) = self.lanes.get_mut(&lane) else {
            return Err(link);
        };
        if state.is_open() {
            return Err(link);
        }
        let LaneState::Connecting(waiters) =
            std::mem::replace(&mut state.state, LaneState::Open { limit, link })
        else {
            unreachable!("checked: the lane was connecting");
        };
        let origin = self
            .origins
            .get_mut(&state.origin)
            .expect("a lane's origin");
        origin.protocol = Protocol::Http2;
        if limit.is_some() {
            origin.learned = limit;
        }
        Ok(waiters)
    }

    /// The server's stream limit on `lane` is now `limit`.
    pub(crate) fn limit_read(&mut self, lane: LaneId, limit: usize) {
        let Some(state) = self.lanes.get_mut(&lane) else {
            return;
        };
        if let LaneState::Open { limit: known, .. } = &mut state.state {
            *known = Some(limit);
            if let Some(origin) = self.origins.get_mut(&state.origin) {
                origin.learned = Some(limit);
            }
        }
    }

    /// `lane`'s connection could not be made, or its server chose HTTP/1.1: the lane goes, and
    /// its waiters' link is returned (to tell them why).
    pub(crate) fn failed(&mut self, lane: LaneId) -> Option<W> {
        match self.remove(lane)?.state {
            LaneState::Connecting(waiters) => Some(waiters),
            LaneState::Open { .. } => None,
        }
    }

    /// `lane`'s connection ended or takes no new streams (GOAWAY, EOF, error): it is never
    /// chosen again. Its streams in flight finish on their own.
    pub(crate) fn closed(&mut self, lane: LaneId) {
        self.remove(lane);
    }

    /// Removes `lane` if it carries no stream; whether it is gone (a lane already removed is).
    pub(crate) fn close_if_idle(&mut self, lane: LaneId) -> bool {
        match self.lanes.get(&lane) {
            None => true,
            Some(state) if state.streams == 0 => {
                self.remove(lane);
                true
            }
            Some(_) => false,
        }
    }

    /// How many streams `lane` carries (places held by waiters included), if it is there.
    pub(crate) fn streams(&self, lane: LaneId) -> Option<usize> {
        self.lanes.get(&lane).map(|state| state.streams)
    }

    /// A connection to `origin` (pooled or a lane) negotiated `protocol` by ALPN: the knowledge
    /// follows the server.
    pub(crate) fn negotiated(&mut self, origin: &str, protocol: Protocol) {
        if let Some(origin) = self.origins.get_mut(origin) {
            origin.protocol = protocol;
        }
    }

    /// A connection to `origin` could not be made: what was known may be stale (the server may
    /// come back speaking another protocol), unless the origin has an open lane still.
    pub(crate) fn connect_failed(&mut self, origin: &str) {
        let first = self.first;
        let Some(state) = self.origins.get_mut(origin) else {
            return;
        };
        let open = state
            .lanes
            .iter()
            .any(|lane| self.lanes.get(lane).is_some_and(Lane::is_open));
        if !open {
            state.protocol = first;
        }
    }

    fn origin(&self, origin: &str) -> &Origin {
        self.origins.get(origin).expect("the origin routed")
    }

    /// The first lane of `origin` with room; `None` to open a new one.
    /// The routing of `origin` as text, for the logs: its protocol, and each lane's id, state,
    /// streams and server limit: `http2 [#3 open 32/100, #7 connecting 1/?]`.
    pub(crate) fn describe(&self, origin: &str) -> String {
        let Some(state) = self.origins.get(origin) else {
            return "unknown origin".to_owned();
        };
        let lanes: Vec<String> = state
            .lanes
            .iter()
            .filter_map(|id| Some((id, self.lanes.get(id)?)))
            .map(|(id, lane)| {
                let (state, limit) = match &lane.state {
                    LaneState::Connecting(_) => ("connecting", None),
                    LaneState::Open { limit, .. } => ("open", *limit),
                };
                let limit = limit.map_or("?".to_owned(), |limit| limit.to_string());
                format!("#{} {state} {}/{limit}", id.0, lane.streams)
            })
            .collect();
        let protocol = match state.protocol {
            Protocol::Unknown => "unknown",
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
        };
        format!("{protocol} [{}]", lanes.join(", "))
    }

    /// Whether `lane`, of `origin`, is open and has room for another stream.
    fn has_room(&self, origin: &str, lane: LaneId) -> bool {
        self.lanes
            .get(&lane)
            .is_some_and(|state| state.is_open() && self.room(self.origin(origin), state))
    }

    /// Whether `lane` has room for another stream: fewer than the streams per connection and
    /// than the server's limit (its own, or the origin's learned one while it connects).
    fn room(&self, origin: &Origin, lane: &Lane<W, S>) -> bool {
        let server = match lane.state {
            LaneState::Open {
                limit: Some(limit), ..
            } => limit,
            _ => origin.learned.unwrap_or(usize::MAX),
        };
        lane.streams < self.streams_per_connection.min(server.max(1))
    }

    fn lane_with_room(&self, origin: &str) -> Option<LaneId> {
        let state = self.origin(origin);
        let lanes = state.lanes.iter().map(|id| (*id, &self.lanes[id]));
        if let Some((free, _)) = lanes.clone().find(|(_, lane)| self.room(state, lane)) {
            return Some(free);
        }
        if state.lanes.len() < MAX_LANES {
            return None;
        }
        lanes.min_by_key(|(_, lane)| lane.streams).map(|(id, _)| id)
    }

    fn add_lane(&mut self, origin: &str, waiters: W) -> LaneId {
        let id = LaneId(self.next_lane);
        self.next_lane += 1;
        self.lanes.insert(
            id,
            Lane {
                origin: origin.into(),
                state: LaneState::Connecting(waiters),
                streams: 0,
            },
        );
        self.origins
            .get_mut(origin)
            .expect("the origin routed")
            .lanes
            .push(id);
        id
    }

    fn remove(&mut self, lane: LaneId) -> Option<Lane<W, S>> {
        let state = self.lanes.remove(&lane)?;
        if let Some(origin) = self.origins.get_mut(&state.origin) {
            origin.lanes.retain(|id| *id != lane);
        }
        Some(state)
    }

    fn forget_idle_origins(&mut self) {
        let lanes = &mut self.lanes;
        self.origins.retain(|_, origin| {
            let busy = origin
                .lanes
                .iter()
                .any(|id| lanes.get(id).is_some_and(|lane| lane.streams > 0));
            if !busy {
                for id in &origin.lanes {
                    lanes.remove(id);
                }
            }
            busy
        });
    }
}
