//! [`FaultProxy`]: a TCP proxy that sits below TLS and HTTP/2 framing and misbehaves on cue,
//! per connection and per direction: latency and jitter, a bandwidth cap, a slicer (1–7-byte
//! segments),
//! and at a chosen byte — an offset, or one of the test server's marks ([`crate::TestServer::marks`])
//! plus some bytes — a reset, a stall with no close, a clean close (a FIN, no TLS
//! close_notify), or a slow close.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How one direction of a connection is shaped, and what happens at its fault point.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Forwards in segments of 1–7 bytes, each written on its own, from this seed.
    pub slicer: Option<u64>,
    /// Waits this long before forwarding each read.
    pub latency: Duration,
    /// And up to this much more, drawn for each read (from the slicer's seed, or a fixed one).
    pub jitter: Duration,
    /// At most this many bytes a second.
    pub bytes_per_second: Option<u64>,
    /// What happens, and where.
    pub fault: Option<(At, Fault)>,
}

/// Where a fault happens, in the bytes of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// After this many bytes.
    Byte(u64),
    /// At the server's mark `index` on this connection (see [`crate::TestServer::marks`]),
    /// plus `plus` bytes.
    Mark {
        /// Which mark: 0 is the first response's head, 1 its first piece, ...
        index: usize,
        /// Bytes after it.
        plus: u64,
    },
}

/// A fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection is reset (RST) both ways.
    Reset,
    /// Nothing more is forwarded either way, and the connection stays open.
    Stall,
    /// Both ways are closed cleanly (FIN): below TLS, so without a close_notify.
    Close,
    /// As [`Fault::Close`], after holding the connection open this long with nothing sent.
    SlowClose(Duration),
}

/// The plan of one connection: its two directions.
#[derive(Debug, Clone, Default)]
pub struct ConnectionPlan {
    /// Server to client.
    pub to_client: Shape,
    /// Client to server.
    pub to_server: Shape,
}

type Planner = dyn Fn(usize) -> ConnectionPlan + Send + Sync;
type Marks = dyn Fn(SocketAddr) -> Vec<u64> + Send + Sync;

/// A running proxy. Stops (and drops its connections) when dropped.
pub struct FaultProxy {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    faults: Arc<Mutex<Vec<(usize, Fault)>>>,
    segments: Arc<AtomicUsize>,
    _stop: watch::Sender<bool>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Proxies `127.0.0.1:port` to `upstream`; connection `i` (0-based) follows `plan(i)`;
    /// `marks` gives the server's marks for the connection from the proxy's address.
    pub async fn start(
        upstream: SocketAddr,
        plan: impl Fn(usize) -> ConnectionPlan + Send + Sync + 'static,
        marks: impl Fn(SocketAddr) -> Vec<u64> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
        let address = listener.local_addr().expect("bound");
        let accepted = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(Mutex::new(Vec::new()));
        let segments = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        let plan: Arc<Planner> = Arc::new(plan);
        let marks: Arc<Marks> = Arc::new(marks);
        {
            let accepted = accepted.clone();
            let faults = faults.clone();
            let segments = segments.clone();
            tokio::spawn(async move {
                let mut stopped = stopped;
                loop {
                    let client = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((client, _)) => client,
                            Err(_) => continue,
                        },
                        _ = stopped.changed() => return,
                    };
                    let index = accepted.fetch_add(1, Ordering::SeqCst);
                    let plan = plan(index);
                    let marks = marks.clone();
                    let faults = faults.clone();
                    let segments = segments.clone();
                    let mut stopped = stopped.clone();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let _ = (client.set_nodelay(true), server.set_nodelay(true));
                        tokio::select! {
                            fault = relay(client, server, plan, marks, segments) => {
                                if let Some(fault) = fault {
                                    faults.lock().expect("not poisoned").push((index, fault));
                                }
                            }
                            _ = stopped.changed() => {}
                        }
                    });
                }
            });
        }
        Self {
            address,
            accepted,
            faults,
            segments,
            _stop: stop,
        }
    }

    /// The proxy's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The writes made to clients so far (a slicer makes one per segment).
    pub fn segments_to_clients(&self) -> usize {
        self.segments.load(Ordering::SeqCst)
    }

    /// The faults that happened: (connection, fault).
    pub fn faults(&self) -> Vec<(usize, Fault)> {
        self.faults.lock().expect("not poisoned").clone()
    }
}

/// What a direction's pump ended with.
enum Ended {
    /// Its source closed (forwarded as a FIN).
    Closed,
    /// Its fault point was reached.
    Fault(Fault),
}

/// Relays both directions until both end, carrying out a direction's fault when it reaches
/// it; returns the fault, if any.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    plan: ConnectionPlan,
    marks: Arc<Marks>,
    segments: Arc<AtomicUsize>,
) -> Option<Fault> {
    let proxy_side = server.local_addr().ok();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let lookup = move || proxy_side.map(|address| marks(address)).unwrap_or_default();
    let lookup: Arc<dyn Fn() -> Vec<u64> + Send + Sync> = Arc::new(lookup);
    let down = pump(
        server_read,
        client_write,
        plan.to_client,
        lookup.clone(),
        Some(segments),
    );
    let up = pump(client_read, server_write, plan.to_server, lookup, None);
    tokio::pin!(down, up);
    let (mut down_done, mut up_done) = (false, false);
    loop {
        let (ended, halves, other_done) = tokio::select! {
            (ended, halves) = &mut down, if !down_done => {
                down_done = true;
                (ended, halves, up_done)
            }
            (ended, halves) = &mut up, if !up_done => {
                up_done = true;
                (ended, halves, down_done)
            }
        };
        if let Ended::Fault(fault) = ended {
            let (from, mut to) = halves;
            match fault {
                Fault::Reset => {
                    // Both sockets (one half of each is here) close with a RST.
                    reset(to.as_ref());
                    reset(from.as_ref());
                    return Some(fault);
                }
                Fault::Stall => std::future::pending::<()>().await,
                Fault::Close | Fault::SlowClose(_) => {
                    if let Fault::SlowClose(after) = fault {
                        tokio::time::sleep(after).await;
                    }
                    // A FIN this way; nothing more read from the other end. The other
                    // direction goes on until its source closes (dropping a socket with unread
                    // bytes would reset it).
                    let _ = to.shutdown().await;
                    drop(from);
                    if !other_done {
                        if down_done {
                            let _ = (&mut up).await;
                        } else {
                            let _ = (&mut down).await;
                        }
                    }
                    return Some(fault);
                }
            }
        }
        if down_done && up_done {
            return None;
        }
    }
}

/// Makes `socket` close with a RST when it is dropped.
#[expect(
    deprecated,
    reason = "SO_LINGER blocks a drop only with a positive timeout; zero resets at once"
)]
fn reset(socket: &TcpStream) {
    let _ = socket.set_linger(Some(Duration::ZERO));
}

/// Forwards one direction with its shape until its source closes or its fault point.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shape: Shape,
    marks: Arc<dyn Fn() -> Vec<u64> + Send + Sync>,
    segments: Option<Arc<AtomicUsize>>,
) -> (Ended, (OwnedReadHalf, OwnedWriteHalf)) {
    let mut random = shape.slicer.map(fastrand::Rng::with_seed);
    let mut jitter = fastrand::Rng::with_seed(shape.slicer.unwrap_or(0x5eed));
    let mut forwarded: u64 = 0;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return (Ended::Closed, (from, to));
            }
            Ok(read) => read,
        };
        if !(shape.latency.is_zero() && shape.jitter.is_zero()) {
            let extra = shape.jitter.mul_f64(jitter.f64());
            tokio::time::sleep(shape.latency + extra).await;
        }
        let mut data = &buffer[..read];
        // Where the fault falls in what was read (its mark is known by now: the server marks
        // before it writes).
        let fault_at = shape.fault.and_then(|(at, fault)| {
            let offset = match at {
                At::Byte(offset) => offset,
                At::Mark { index, plus } => marks().get(index)? + plus,
            };
            (offset < forwarded + read as u64).then(|| (offset.saturating_sub(forwarded), fault))
        });
        if let Some((keep, _)) = fault_at {
            data = &data[..keep as usize];
        }
        while !data.is_empty() {
            let size = match &mut random {
                Some(random) => random.usize(1..=7).min(data.len()),
                None => data.len(),
            };
            if to.write_all(&data[..size]).await.is_err() {
                return (Ended::Closed, (from, to));
            }
            if let Some(segments) = &segments {
                segments.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(rate) = shape.bytes_per_second {
                tokio::time::sleep(Duration::from_secs_f64(size as f64 / rate.max(1) as f64)).await;
            }
            forwarded += size as u64;
            data = &data[size..];
        }
        if let Some((_, fault)) = fault_at {
            return (Ended::Fault(fault), (from, to));
        }
    }
}
