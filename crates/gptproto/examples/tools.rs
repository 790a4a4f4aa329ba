//! A weather-style tool round trip: the model asks for the weather, the router runs the typed
//! handler, the loop sends the result back, and the model answers.
//!
//! ```sh
//! GPTPROTO_API_KEY=sk-... cargo run -p gptproto --example tools
//! # any OpenAI-compatible server: GPTPROTO_BASE_URL=http://127.0.0.1:8089/v1 GPTPROTO_MODEL=...
//! ```

use futures_util::StreamExt;
use gptproto::tools::{Router, ToolEvent};
use gptproto::{ChatRequest, Client};

/// The current weather in a city.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct GetWeather {
    /// The city, e.g. Paris.
    city: String,
    /// The unit of the temperature; Celsius when absent.
    unit: Option<Unit>,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Unit {
    Celsius,
    Fahrenheit,
}

#[derive(serde::Serialize)]
struct Weather {
    city: String,
    temperature: f64,
    unit: &'static str,
    sky: &'static str,
}

/// A stand-in for a weather service.
async fn get_weather(args: GetWeather) -> Result<Weather, String> {
    let (celsius, sky) = match args.city.to_lowercase().as_str() {
        "paris" => (18.0, "clear"),
        "rome" => (24.0, "cloudy"),
        "oslo" => (4.0, "snow"),
        other => {
            return Err(format!(
                "no weather station in {other:?}; try Paris, Rome or Oslo"
            ));
        }
    };
    let (temperature, unit) = match args.unit.unwrap_or(Unit::Celsius) {
        Unit::Celsius => (celsius, "celsius"),
        Unit::Fahrenheit => (celsius * 9.0 / 5.0 + 32.0, "fahrenheit"),
    };
    Ok(Weather {
        city: args.city,
        temperature,
        unit,
        sky,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new()?;
    let model = std::env::var("GPTPROTO_MODEL").unwrap_or_else(|_| "qwen-turbo".to_owned());
    let router = Router::new().function("get_weather", "", get_weather)?;
    let request = ChatRequest::new(model)
        .system("Answer with the tools you have.")
        .user("Is it warmer in Paris or in Rome right now?");

    // Streamed: text and tool events as they happen.
    let mut events = client.run_tools_streaming(request, router, 5);
    while let Some(event) = events.next().await {
        match event? {
            ToolEvent::Text(text) => print!("{text}"),
            ToolEvent::ToolCalls(calls) => {
                for call in calls {
                    eprintln!(
                        "[calls {}({})]",
                        call.function.name, call.function.arguments
                    );
                }
            }
            ToolEvent::ToolOutput(output) => eprintln!("[{} -> {}]", output.name, output.content),
            ToolEvent::Done(run) => {
                println!();
                eprintln!(
                    "[{} rounds, {} messages in the conversation]",
                    run.rounds,
                    run.messages.len()
                );
            }
            _ => {}
        }
    }
    Ok(())
}
