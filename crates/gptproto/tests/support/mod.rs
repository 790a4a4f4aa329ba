//! What the robustness tests (cancellation, torture) share: a whole call, and the process's
//! resources they count.

use futures_util::StreamExt;
use gptproto::{ChatRequest, Client};

/// A whole call (streamed: read to its end): the answer's text.
pub(crate) async fn call_text(client: &Client, streamed: bool) -> Result<String, gptproto::Error> {
    let request = ChatRequest::new("m").user("hi");
    if streamed {
        let mut stream = client.chat_stream(request).await?;
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text += chunk?.text().unwrap_or_default();
        }
        Ok(text)
    } else {
        let answer = client.chat(request).await?;
        Ok(answer.text().unwrap_or_default().to_owned())
    }
}

/// The runtime's tasks alive now.
pub(crate) fn tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// The process's open file descriptors.
pub(crate) fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}
