//! The router: typed handlers by name, and what the model is told when a call goes wrong.

use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures::executor::block_on;
use gptproto_proto::wire::ToolCall;
use gptproto_tools::{Router, ToolStatus};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
struct GetWeather {
    city: String,
    #[serde(default)]
    days: u32,
}

#[derive(Deserialize, JsonSchema)]
struct Nothing {}

fn weather_router() -> Router {
    Router::new()
        .function(
            "get_weather",
            "The weather",
            |args: GetWeather| async move {
                if args.city == "Atlantis" {
                    return Err(format!("no weather station in {}", args.city));
                }
                Ok(serde_json::json!({"city": args.city, "days": args.days, "temp_c": 18}))
            },
        )
        .unwrap()
        .function("now", "The time", |_: Nothing| async move {
            Ok::<_, String>("12:00")
        })
        .unwrap()
}

#[test]
fn results_come_back_in_call_order_as_tool_messages() {
    let router = weather_router();
    let mut calls = vec![
        ToolCall::function("a", "now", ""),
        ToolCall::function("b", "get_weather", r#"{"city":"Rome","days":2}"#),
    ];
    let outputs = block_on(router.run(&mut calls, true));
    assert_eq!(outputs.len(), 2);
    assert_eq!(
        (outputs[0].call_id.as_str(), outputs[0].content.as_str()),
        ("a", "12:00")
    );
    assert_eq!(
        outputs[1].content,
        r#"{"city":"Rome","days":2,"temp_c":18}"#
    );
    assert!(outputs.iter().all(|output| output.status == ToolStatus::Ok));
    let message = outputs[1].message();
    assert_eq!(message.tool_call_id.as_deref(), Some("b"));
    assert_eq!(
        message.text(),
        Some(r#"{"city":"Rome","days":2,"temp_c":18}"#)
    );
}

#[test]
fn bad_arguments_go_back_to_the_model_quoting_serde() {
    let router = weather_router();
    let mut calls = vec![
        ToolCall::function("a", "get_weather", r#"{"town":"Rome"}"#),
        ToolCall::function("b", "get_weather", r#"{"city":"Ro"#),
    ];
    let outputs = block_on(router.run(&mut calls, true));
    assert_eq!(outputs[0].status, ToolStatus::BadArguments);
    assert!(
        outputs[0].content.contains("get_weather")
            && outputs[0].content.contains("missing field `city`"),
        "{}",
        outputs[0].content
    );
    assert_eq!(outputs[1].status, ToolStatus::BadArguments);
    assert!(outputs[1].content.contains("EOF"), "{}", outputs[1].content);
}

#[test]
fn an_unknown_tool_is_told_the_available_ones() {
    let router = weather_router();
    let mut calls = vec![ToolCall::function("a", "get_forecast", "{}")];
    let outputs = block_on(router.run(&mut calls, true));
    assert_eq!(outputs[0].status, ToolStatus::UnknownTool);
    assert_eq!(
        outputs[0].content,
        r#"error: there is no tool named "get_forecast"; the available tools are: get_weather, now"#
    );
}

#[test]
fn a_handler_error_goes_back_to_the_model() {
    let router = weather_router();
    let mut calls = vec![ToolCall::function(
        "a",
        "get_weather",
        r#"{"city":"Atlantis"}"#,
    )];
    let outputs = block_on(router.run(&mut calls, true));
    assert_eq!(outputs[0].status, ToolStatus::Failed);
    assert_eq!(outputs[0].content, "error: no weather station in Atlantis");
}

#[test]
fn nulls_from_a_strict_schema_take_the_defaults() {
    let router = Router::new()
        .strict_function(
            "get_weather",
            "The weather",
            |args: GetWeather| async move { Ok::<_, String>(args.days) },
        )
        .unwrap();
    let mut calls = vec![ToolCall::function(
        "a",
        "get_weather",
        r#"{"city":"Oslo","days":null}"#,
    )];
    let outputs = block_on(router.run(&mut calls, true));
    assert_eq!(
        (outputs[0].status, outputs[0].content.as_str()),
        (ToolStatus::Ok, "0")
    );
}

#[test]
fn calls_without_an_id_get_one_in_place() {
    let router = weather_router();
    let mut calls = vec![
        ToolCall::function("", "now", "{}"),
        ToolCall::function("", "now", "{}"),
    ];
    let outputs = block_on(router.run(&mut calls, true));
    assert!(
        !calls[0].id.is_empty() && calls[0].id != calls[1].id,
        "{calls:?}"
    );
    assert_eq!(outputs[0].call_id, calls[0].id);
    assert_eq!(outputs[1].call_id, calls[1].id);
}

#[test]
fn a_tool_name_registered_twice_is_an_error() {
    let error = weather_router()
        .function(
            "now",
            "again",
            |_: Nothing| async move { Ok::<_, String>(1) },
        )
        .unwrap_err();
    assert!(
        error.is_duplicate_tool() && error.to_string().contains("\"now\""),
        "{error}"
    );
}

/// Handlers that note when they start and end, yielding once between.
fn recording_router(log: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new()
        .function("step", "A step", move |args: Step| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push(format!("start {}", args.n));
                let mut yielded = false;
                std::future::poll_fn(|cx| {
                    if yielded {
                        Poll::Ready(())
                    } else {
                        yielded = true;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                })
                .await;
                log.lock().unwrap().push(format!("end {}", args.n));
                Ok::<_, String>(args.n)
            }
        })
        .unwrap()
}

#[derive(Deserialize, JsonSchema)]
struct Step {
    n: u32,
}

#[test]
fn calls_run_at_once_unless_parallel_calls_are_off() {
    for (parallel, expected) in [
        (true, ["start 1", "start 2", "end 1", "end 2"]),
        (false, ["start 1", "end 1", "start 2", "end 2"]),
    ] {
        let log = Arc::new(Mutex::new(Vec::new()));
        let router = recording_router(Arc::clone(&log));
        let mut calls = vec![
            ToolCall::function("a", "step", r#"{"n":1}"#),
            ToolCall::function("b", "step", r#"{"n":2}"#),
        ];
        let outputs = block_on(router.run(&mut calls, parallel));
        assert_eq!(*log.lock().unwrap(), expected, "parallel: {parallel}");
        assert_eq!(outputs[1].content, "2");
    }
}
