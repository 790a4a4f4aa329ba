//! [`TestProxy`]: a minimal HTTP proxy that tunnels `CONNECT` requests and records them. It
//! reaches every host on loopback: a test names a host that only the proxy can reach
//! ([`PROXIED_HOST`](crate::PROXIED_HOST)).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A `CONNECT` proxy on a loopback port. Stops when dropped.
#[derive(Debug)]
pub struct TestProxy {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestProxy {
    /// Starts the proxy.
    pub async fn start() -> Self {
        Self::serve(None).await
    }

    /// Starts a proxy that answers every `CONNECT` with `status` (`"407 Proxy Authentication
    /// Required"`, say) and closes the connection.
    pub async fn answering(status: &'static str) -> Self {
        Self::serve(Some(status)).await
    }

    async fn serve(refusal: Option<&'static str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let _ = tunnel(client, &recorded, refusal).await;
                });
            }
        });
        Self {
            address,
            requests,
            task,
        }
    }

    /// The proxy's URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The request heads received (`CONNECT host:port HTTP/1.1` and headers), in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tunnel(
    mut client: TcpStream,
    recorded: &Mutex<Vec<String>>,
    refusal: Option<&'static str>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    recorded.lock().expect("not poisoned").push(head.clone());
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned);
    if let Some(status) = refusal {
        let answer = format!(
            "HTTP/1.1 {status}\r\nproxy-authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\n\r\n"
        );
        return client.write_all(answer.as_bytes()).await;
    }
    let Some(target) = target else {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    // Every host is reached on loopback, so that tests can use names only the proxy resolves
    // (the client never proxies loopback destinations themselves).
    let port = target.rsplit_once(':').map_or("443", |(_, port)| port);
    let mut upstream = TcpStream::connect(format!("127.0.0.1:{port}")).await?;
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
