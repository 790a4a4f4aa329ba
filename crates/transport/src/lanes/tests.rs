//! A lane's task against h2's own server over an in-memory pipe: the settings read, the limit
//! followed, the lane closed at the server's GOAWAY.

use std::time::Duration;

use hyper_util::rt::TokioIo;

use super::*;
use crate::routing::Ask;

const ORIGIN: &str = "lane.test:443";

/// A table with one lane connecting to a server (h2's own) allowing `limit` streams; the
/// server's connection is driven until `goaway` is notified, then shut down gracefully.
async fn lane_to_server(
    limit: u32,
) -> (
    Arc<Table>,
    LaneId,
    Connection<TokioIo<tokio::io::DuplexStream>>,
    Sender,
    Arc<tokio::sync::Notify>,
) {
    let table = Arc::new(Table::new(Protocol::Http2, 100));
    let lane = match table
        .lock()
        .route(ORIGIN, Ask::First, || Waiters::new(None))
    {
        crate::routing::Route::Wait { lane, .. } => lane,
        other => panic!("{other:?}"),
    };
    table.lock().release(lane);
    let (client, server) = tokio::io::duplex(64 * 1024);
    let goaway = Arc::new(tokio::sync::Notify::new());
    let shutdown = goaway.clone();
    tokio::spawn(async move {
        let mut connection = h2::server::Builder::new()
            .max_concurrent_streams(limit)
            .handshake::<_, Bytes>(server)
            .await
            .expect("server handshake");
        tokio::select! {
            _ = std::future::poll_fn(|cx| connection.poll_closed(cx)) => return,
            () = shutdown.notified() => {}
        }
        connection.graceful_shutdown();
        let _ = std::future::poll_fn(|cx| connection.poll_closed(cx)).await;
    });
    let (sender, connection) = handshake(TokioIo::new(client), None)
        .await
        .expect("client handshake");
    (table, lane, connection, sender, goaway)
}

async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited 5 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// How many streams the table sends on `lane` before it opens another.
fn room(table: &Table, lane: LaneId) -> usize {
    let mut routing = table.lock();
    let mut sent = 0;
    while let crate::routing::Route::Send { lane: on, .. } =
        routing.route(ORIGIN, Ask::First, || Waiters::new(None))
    {
        assert_eq!(on, lane);
        sent += 1;
    }
    sent
}

#[tokio::test]
async fn lane_task_reads_the_servers_settings() {
    let (table, lane, connection, sender, _goaway) = lane_to_server(7).await;
    // What h2 reports until the server's SETTINGS are read is what hyper was told: the value
    // no server sends. If an h2 release changes this, the lanes would take any value as read.
    assert_eq!(connection.current_max_send_streams(), UNREAD);
    let task = LaneTask::new(&table, lane, sender, connection, Duration::from_secs(60));
    tokio::spawn(task);
    until("the lane to open", || room_once(&table)).await;
    // Opened with the server's limit (7), well before the settings wait would have run out.
    assert_eq!(room(&table, lane), 7);
}

#[tokio::test]
async fn lane_task_closes_the_lane_at_the_servers_goaway() {
    let (table, lane, connection, sender, goaway) = lane_to_server(100).await;
    tokio::spawn(LaneTask::new(
        &table,
        lane,
        sender,
        connection,
        Duration::from_secs(60),
    ));
    until("the lane to open", || room_once(&table)).await;
    goaway.notify_one();
    until("the lane to close", || table.lock().streams(lane).is_none()).await;
}

/// Whether a request would be sent on an open lane now (its place given back).
fn room_once(table: &Table) -> bool {
    let mut routing = table.lock();
    match routing.route(ORIGIN, Ask::Again, || Waiters::new(None)) {
        crate::routing::Route::Send { lane, .. } => {
            routing.release(lane);
            true
        }
        crate::routing::Route::Wait { lane, .. } => {
            routing.release(lane);
            false
        }
        crate::routing::Route::Pool => false,
    }
}
