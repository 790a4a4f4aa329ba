//! The routing's transitions, driven without sockets: waiters' links are names, senders numbers.

use super::*;

const ORIGIN: &str = "api.example:443";

type Table = Routing<&'static str, u32>;

/// What a route came to, owned (the links copied out).
#[derive(Debug, PartialEq, Eq)]
enum Went {
    Pool,
    Send(LaneId, u32),
    Wait(LaneId, &'static str, Option<Connect>),
}

fn go(table: &mut Table, again: bool) -> Went {
    match table.route(
        ORIGIN,
        if again { Ask::Again } else { Ask::First },
        || "waiters",
    ) {
        Route::Pool => Went::Pool,
        Route::Send { lane, link } => Went::Send(lane, *link),
        Route::Wait {
            lane,
            link,
            connect,
        } => Went::Wait(lane, link, connect),
    }
}

fn lane_of(went: &Went) -> LaneId {
    match went {
        Went::Send(lane, _) | Went::Wait(lane, _, _) => *lane,
        Went::Pool => panic!("went to the pool"),
    }
}

const PROBE: Option<Connect> = Some(Connect { probe: true });
const LANE: Option<Connect> = Some(Connect { probe: false });

/// An origin whose probe opened as HTTP/2 with the server's `limit`; the probe's own waiter
/// has let its place go.
fn http2_origin(streams_per_connection: usize, limit: Option<usize>) -> (Table, LaneId) {
    let mut table = Table::new(Protocol::Unknown, streams_per_connection);
    let probe = lane_of(&go(&mut table, false));
    assert_eq!(table.opened(probe, limit, 0), Ok("waiters"));
    table.release(probe);
    (table, probe)
}

#[test]
fn a_burst_to_an_unknown_origin_waits_on_one_probe() {
    let mut table = Table::new(Protocol::Unknown, 100);
    let first = go(&mut table, false);
    let Went::Wait(probe, "waiters", PROBE) = first else {
        panic!("{first:?}");
    };
    for _ in 0..50 {
        assert_eq!(go(&mut table, false), Went::Wait(probe, "waiters", None));
    }
    assert_eq!(table.streams(probe), Some(51));
}

#[test]
fn the_probe_opening_as_http2_lets_the_waiters_send_on_it() {
    let mut table = Table::new(Protocol::Unknown, 100);
    let probe = lane_of(&go(&mut table, false));
    go(&mut table, false);
    // The waiters' link comes back to wake them; each lets its place go and routes again.
    assert_eq!(table.opened(probe, Some(100), 7), Ok("waiters"));
    table.release(probe);
    table.release(probe);
    assert_eq!(go(&mut table, true), Went::Send(probe, 7));
    assert_eq!(go(&mut table, true), Went::Send(probe, 7));
    assert_eq!(table.streams(probe), Some(2));
}

#[test]
fn the_server_answering_http1_sends_everything_through_the_pool() {
    let mut table = Table::new(Protocol::Unknown, 100);
    let probe = lane_of(&go(&mut table, false));
    table.negotiated(ORIGIN, Protocol::Http1);
    assert_eq!(table.failed(probe), Some("waiters"));
    assert_eq!(go(&mut table, true), Went::Pool);
    assert_eq!(go(&mut table, false), Went::Pool);
    assert_eq!(table.streams(probe), None);
}

#[test]
fn a_failed_probe_leaves_the_origin_unknown_and_the_next_request_probes_again() {
    let mut table = Table::new(Protocol::Unknown, 100);
    let probe = lane_of(&go(&mut table, false));
    table.connect_failed(ORIGIN);
    assert_eq!(table.failed(probe), Some("waiters"));
    // A request that waited goes through the pool; a new one probes again, on a new lane.
    assert_eq!(go(&mut table, true), Went::Pool);
    let again = go(&mut table, false);
    assert!(
        matches!(again, Went::Wait(lane, _, PROBE) if lane != probe),
        "{again:?}"
    );
}

#[test]
fn a_full_lane_opens_another() {
    let (mut table, first) = http2_origin(2, None);
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
    let third = go(&mut table, false);
    let Went::Wait(second, "waiters", LANE) = third else {
        panic!("{third:?}");
    };
    assert_ne!(second, first);
    // Its connection is not made yet: the next requests wait on it too, up to its room.
    assert_eq!(go(&mut table, false), Went::Wait(second, "waiters", None));
    assert!(matches!(go(&mut table, false), Went::Wait(lane, _, LANE) if lane != second));
    // A stream ending on the first lane makes room there again: it is chosen first.
    table.release(first);
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
}

#[test]
fn lanes_hold_to_the_servers_limit_and_follow_it_when_it_changes() {
    let (mut table, first) = http2_origin(100, Some(3));
    for _ in 0..3 {
        assert_eq!(go(&mut table, false), Went::Send(first, 0));
    }
    let Went::Wait(second, _, LANE) = go(&mut table, false) else {
        panic!("a fourth stream opens a second lane");
    };
    // Until its own settings are read, a new lane is held to what the origin last allowed.
    assert_eq!(go(&mut table, false), Went::Wait(second, "waiters", None));
    assert_eq!(go(&mut table, false), Went::Wait(second, "waiters", None));
    assert!(matches!(go(&mut table, false), Went::Wait(lane, _, LANE) if lane != second));

    // The server raises its limit on the first connection mid-life: it takes more.
    table.limit_read(first, 5);
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
    // And lowers it below what it carries: no new stream goes there until enough end.
    table.limit_read(first, 2);
    table.release(first);
    table.release(first);
    assert!(!matches!(go(&mut table, false), Went::Send(lane, _) if lane == first));
    for _ in 0..2 {
        table.release(first);
    }
    assert_eq!(table.streams(first), Some(1));
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
}

#[test]
fn a_closed_lane_is_never_chosen_again() {
    let (mut table, first) = http2_origin(100, Some(100));
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
    table.closed(first);
    // Its streams in flight end later: letting their places go touches nothing.
    table.release(first);
    assert_eq!(table.streams(first), None);
    let next = go(&mut table, true);
    let Went::Wait(lane, _, LANE) = next else {
        panic!("{next:?}");
    };
    assert_ne!(lane, first, "lane ids are never reused");
    // The origin still speaks HTTP/2: its new lane opens with h2 alone, not a probe.
    assert_eq!(table.opened(lane, Some(100), 1), Ok("waiters"));
    table.release(lane);
    assert_eq!(go(&mut table, false), Went::Send(lane, 1));
}

#[test]
fn a_lane_that_fails_while_requests_wait_hands_them_its_link_and_goes() {
    let (mut table, first) = http2_origin(1, Some(1));
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
    let Went::Wait(second, _, LANE) = go(&mut table, false) else {
        panic!("a second lane");
    };
    // The waiters are told through the link returned; the lane is gone.
    assert_eq!(table.failed(second), Some("waiters"));
    assert_eq!(table.streams(second), None);
    table.release(second);
    // The origin's open lane still works, so it is still HTTP/2.
    table.connect_failed(ORIGIN);
    table.release(first);
    assert_eq!(go(&mut table, true), Went::Send(first, 0));
}

#[test]
fn an_origin_whose_lanes_all_failed_is_probed_again() {
    let (mut table, first) = http2_origin(100, Some(100));
    table.closed(first);
    let Went::Wait(second, _, LANE) = go(&mut table, false) else {
        panic!("a new lane");
    };
    // The server is down: its connection fails, and nothing of the origin is open.
    table.connect_failed(ORIGIN);
    table.failed(second);
    assert!(matches!(go(&mut table, false), Went::Wait(_, _, PROBE)));
}

#[test]
fn opened_too_late_or_twice_gives_the_sender_back() {
    let (mut table, first) = http2_origin(100, None);
    assert_eq!(table.opened(first, None, 9), Err(9), "open already");
    table.closed(first);
    assert_eq!(table.opened(first, None, 9), Err(9), "gone");
}

#[test]
fn an_idle_lane_closes_and_a_busy_one_does_not() {
    let (mut table, first) = http2_origin(100, None);
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
    assert!(!table.close_if_idle(first));
    table.release(first);
    assert!(table.close_if_idle(first));
    assert_eq!(table.streams(first), None);
    assert!(table.close_if_idle(first), "a lane already gone is closed");
}

#[test]
fn past_the_most_lanes_the_least_busy_takes_the_stream() {
    let (mut table, first) = http2_origin(1, Some(1));
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
    let mut lanes = vec![first];
    for _ in 1..MAX_LANES {
        let Went::Wait(lane, _, LANE) = go(&mut table, false) else {
            panic!("a new lane");
        };
        lanes.push(lane);
    }
    // Every lane carries one stream; one ends.
    table.release(lanes[7]);
    assert_eq!(go(&mut table, false), Went::Wait(lanes[7], "waiters", None));
    // Now all are full and there are as many as allowed: the least busy (the first) takes it.
    assert!(matches!(go(&mut table, false), Went::Send(lane, 0) if lane == first));
    assert_eq!(table.streams(first), Some(2));
}

#[test]
fn idle_origins_are_forgotten_past_the_most_origins_and_busy_ones_are_kept() {
    let mut table = Table::new(Protocol::Http2, 100);
    let busy = match table.route("busy:443", Ask::First, || "w") {
        Route::Wait { lane, .. } => lane,
        other => panic!("{other:?}"),
    };
    let mut idle = Vec::new();
    for i in 0..MAX_ORIGINS - 1 {
        let origin = format!("idle-{i}:443");
        let Route::Wait { lane, .. } = table.route(&origin, Ask::First, || "w") else {
            panic!("a lane");
        };
        table.release(lane);
        idle.push(lane);
    }
    assert_eq!(table.origins.len(), MAX_ORIGINS);
    table.route("new:443", Ask::First, || "w");
    assert_eq!(table.origins.len(), 2, "the busy origin and the new one");
    assert_eq!(
        table.streams(busy),
        Some(1),
        "a busy origin keeps its lanes"
    );
    assert!(idle.iter().all(|lane| table.streams(*lane).is_none()));
}

#[test]
fn an_http1_only_transport_never_makes_lanes() {
    let mut table = Table::new(Protocol::Http1, 100);
    assert_eq!(go(&mut table, false), Went::Pool);
    assert!(table.lanes.is_empty());
}

#[test]
fn an_http2_only_transport_skips_the_probe() {
    let mut table = Table::new(Protocol::Http2, 100);
    assert!(matches!(go(&mut table, false), Went::Wait(_, _, LANE)));
}

#[test]
fn the_server_switching_protocols_is_followed() {
    let (mut table, first) = http2_origin(100, Some(100));
    // A pooled connection (or a lane's) negotiated HTTP/1.1: the server changed.
    table.negotiated(ORIGIN, Protocol::Http1);
    assert_eq!(go(&mut table, false), Went::Pool);
    table.negotiated(ORIGIN, Protocol::Http2);
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
}

/// What a route asked as `ask` came to.
fn ask(table: &mut Table, ask: Ask) -> Went {
    match table.route(ORIGIN, ask, || "fresh waiters") {
        Route::Pool => Went::Pool,
        Route::Send { lane, link } => Went::Send(lane, *link),
        Route::Wait {
            lane,
            link,
            connect,
        } => Went::Wait(lane, link, connect),
    }
}

#[test]
fn a_request_asking_for_a_fresh_connection_gets_a_new_lane_and_goes_on_it_once_open() {
    let (mut table, first) = http2_origin(100, Some(100));
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
    // The first lane has room, but the retry of a request that timed out on it asks for a
    // connection of its own.
    let fresh = ask(&mut table, Ask::Fresh);
    let Went::Wait(lane, "fresh waiters", LANE) = fresh else {
        panic!("{fresh:?}");
    };
    assert_ne!(lane, first);
    assert_eq!(table.opened(lane, Some(100), 9), Ok("fresh waiters"));
    table.release(lane);
    // After its wait it goes on the lane it waited for, not the first one with room.
    assert_eq!(ask(&mut table, Ask::On(lane)), Went::Send(lane, 9));
    // Others go on as before, first lane first.
    assert_eq!(go(&mut table, false), Went::Send(first, 0));
}

#[test]
fn a_lane_asked_for_that_is_gone_or_full_routes_as_again() {
    let (mut table, first) = http2_origin(1, Some(1));
    let fresh = lane_of(&ask(&mut table, Ask::Fresh));
    table.failed(fresh);
    // Gone: the first lane with room.
    assert_eq!(ask(&mut table, Ask::On(fresh)), Went::Send(first, 0));
    // Full: another lane.
    assert!(matches!(ask(&mut table, Ask::On(first)), Went::Wait(lane, _, LANE) if lane != first));
}

#[test]
fn a_fresh_request_to_an_origin_not_known_as_http2_routes_as_a_first_one() {
    let mut table = Table::new(Protocol::Http1, 100);
    assert_eq!(ask(&mut table, Ask::Fresh), Went::Pool);
    let mut table = Table::new(Protocol::Unknown, 100);
    assert!(matches!(
        ask(&mut table, Ask::Fresh),
        Went::Wait(_, _, PROBE)
    ));
}
