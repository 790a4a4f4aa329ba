//! One chat, observed: with the `otel` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set, its span
//! and metrics go to an OTLP receiver (a Collector, Jaeger, Langfuse...), flushed at the end.
//!
//! ```sh
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 GPTPROTO_API_KEY=sk-... \
//!     cargo run -p gptproto --features otel --example observed -- "who are you?"
//! ```
//!
//! Without the feature the same program runs, its span there for any `tracing` subscriber
//! (`docs/observability.md` compares the two builds' sizes with it).

use gptproto::{ChatRequest, Client};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "otel")]
    let otel = gptproto::otel::install_from_env()?;
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "who are you?".to_owned());
    let client = Client::new()?;
    let answer = client
        .chat(ChatRequest::new("qwen-turbo").user(prompt))
        .await?;
    println!("{}", answer.text().unwrap_or_default());
    #[cfg(feature = "otel")]
    if let Some(otel) = otel {
        otel.shutdown()?;
    }
    Ok(())
}
