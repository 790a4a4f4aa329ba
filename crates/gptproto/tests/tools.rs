//! The tool-call loop and structured outputs against the in-repo test server over real TCP: a
//! scripted multi-round conversation with parallel calls, streamed and not, the round limit,
//! and a typed parse.

#![cfg(feature = "tools")]

use futures_util::StreamExt;
use gptproto::tools::{Router, ToolEvent, ToolStatus};
use gptproto::{ChatRequest, Client, Proxy, Role};
use gptproto_testkit::{Recorded, Reply, TestServer};
use serde_json::{Value, json};

fn client(server: &TestServer) -> Client {
    Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key("sk-test")
        .proxy(Proxy::none())
        .build()
        .unwrap()
}

/// The weather in a city.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct GetWeather {
    /// The city.
    city: String,
}

/// Converts Celsius to Fahrenheit.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ToFahrenheit {
    celsius: f64,
}

fn router() -> Router {
    Router::new()
        .function("get_weather", "", |args: GetWeather| async move {
            let temp_c = match args.city.as_str() {
                "Paris" => 18,
                "Rome" => 24,
                other => return Err(format!("unknown city {other}")),
            };
            Ok(json!({"city": args.city, "temp_c": temp_c}))
        })
        .unwrap()
        .function("to_fahrenheit", "", |args: ToFahrenheit| async move {
            Ok::<_, String>(args.celsius * 9.0 / 5.0 + 32.0)
        })
        .unwrap()
}

fn call(id: &str, name: &str, arguments: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
}

fn answer(message: Value, finish_reason: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "qwen-turbo",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]
    })
}

/// The scripted model: which round it is, by the tool results the request carries.
fn round(request: &Recorded) -> usize {
    request.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["role"] == "tool")
        .count()
}

fn scripted(request: &Recorded) -> Reply {
    match round(request) {
        // Two calls at once, the second without an id.
        0 => Reply::json(
            200,
            &answer(
                json!({"role": "assistant", "content": null, "tool_calls": [
                    call("call_paris", "get_weather", r#"{"city":"Paris"}"#),
                    call("", "get_weather", r#"{"city":"Rome"}"#),
                ]}),
                "tool_calls",
            ),
        ),
        // A mistake (bad arguments) and a call of a tool that does not exist.
        2 => Reply::json(
            200,
            &answer(
                json!({"role": "assistant", "content": null, "tool_calls": [
                    call("call_f", "to_fahrenheit", r#"{"c":24}"#),
                    call("call_x", "get_forecast", "{}"),
                ]}),
                "tool_calls",
            ),
        ),
        4 => Reply::json(
            200,
            &answer(
                json!({"role": "assistant", "content": null, "tool_calls": [
                    call("call_f2", "to_fahrenheit", r#"{"celsius":24}"#),
                ]}),
                "tool_calls",
            ),
        ),
        _ => Reply::json(
            200,
            &answer(
                json!({"role": "assistant", "content": "Rome is warmer: 75.2°F."}),
                "stop",
            ),
        ),
    }
}

fn question() -> ChatRequest {
    ChatRequest::new("qwen-turbo").user("Which is warmer, Paris or Rome, in Fahrenheit?")
}

#[tokio::test]
async fn a_multi_round_conversation_with_parallel_calls() {
    let server = TestServer::start(scripted).await;
    let run = client(&server)
        .run_tools(question(), &router(), 10)
        .await
        .unwrap();
    // Shown with `--nocapture`: the conversation the loop built.
    for message in &run.messages {
        let calls: Vec<String> = message
            .tool_calls
            .iter()
            .map(|call| {
                format!(
                    "{}({}) [{}]",
                    call.function.name, call.function.arguments, call.id
                )
            })
            .collect();
        println!(
            "{:<9} {}{}",
            message.role.as_str(),
            message.text().unwrap_or_default(),
            calls.join(", ")
        );
    }
    assert_eq!(run.completion.text(), Some("Rome is warmer: 75.2°F."));
    assert_eq!(run.rounds, 4);
    let roles: Vec<Role> = run.messages.iter().map(|m| m.role.clone()).collect();
    use Role::{Assistant as A, Tool as T, User as U};
    assert_eq!(roles, [U, A, T, T, A, T, T, A, T, A]);

    // What the server saw: the router's tools, and every round's calls and results in order.
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let first = requests[0].json();
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["get_weather", "to_fahrenheit"]);
    assert_eq!(
        first["tools"][0]["function"]["description"],
        "The weather in a city."
    );
    let second = requests[1].json();
    let messages = second["messages"].as_array().unwrap();
    let generated = messages[1]["tool_calls"][1]["id"].as_str().unwrap();
    assert!(!generated.is_empty(), "the call without an id got none");
    assert_eq!(messages[2]["tool_call_id"], "call_paris");
    assert_eq!(messages[2]["content"], r#"{"city":"Paris","temp_c":18}"#);
    assert_eq!(messages[3]["tool_call_id"], generated);
    assert_eq!(messages[3]["content"], r#"{"city":"Rome","temp_c":24}"#);

    let third = requests[2].json();
    let messages = third["messages"].as_array().unwrap();
    let bad = messages[5]["content"].as_str().unwrap();
    assert!(bad.contains("missing field `celsius`"), "{bad}");
    let unknown = messages[6]["content"].as_str().unwrap();
    assert!(
        unknown.contains("get_forecast") && unknown.contains("get_weather, to_fahrenheit"),
        "{unknown}"
    );
    let fourth = requests[3].json();
    assert_eq!(fourth["messages"][8]["content"], "75.2");
}

#[tokio::test]
async fn the_round_limit_is_an_error_that_says_so() {
    let server = TestServer::start(|_| {
        Reply::json(
            200,
            &answer(
                json!({"role": "assistant", "tool_calls": [call("c", "get_weather", r#"{"city":"Paris"}"#)]}),
                "tool_calls",
            ),
        )
    })
    .await;
    let error = client(&server)
        .run_tools(question(), &router(), 3)
        .await
        .unwrap_err();
    assert!(error.is_max_rounds(), "{error}");
    assert_eq!(
        error.to_string(),
        "the model still called tools (get_weather) after 3 rounds, the most allowed"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn parallel_tool_calls_false_is_sent_and_obeyed() {
    let server = TestServer::start(scripted).await;
    let request = question().parallel_tool_calls(false);
    let run = client(&server)
        .run_tools(request, &router(), 10)
        .await
        .unwrap();
    assert_eq!(run.rounds, 4);
    assert_eq!(server.requests()[0].json()["parallel_tool_calls"], false);
}

/// The scripted model, streaming: tool-call deltas with the arguments in pieces, then text.
fn scripted_stream(request: &Recorded) -> Reply {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let events = if round(request) == 0 {
        vec![
            chunk(json!({"role": "assistant", "content": null}), Value::Null),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_p", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 1, "id": "call_r", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]}),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
        ]
    } else {
        vec![
            chunk(
                json!({"role": "assistant", "reasoning_content": "Compare 18 and 24."}),
                Value::Null,
            ),
            chunk(json!({"content": "Rome "}), Value::Null),
            chunk(json!({"content": "is warmer."}), Value::Null),
            chunk(json!({}), json!("stop")),
        ]
    };
    Reply::sse(&events).in_pieces(7)
}

#[tokio::test]
async fn the_streaming_loop_yields_text_and_tool_events_as_they_happen() {
    let server = TestServer::start(scripted_stream).await;
    let events: Vec<ToolEvent> = client(&server)
        .run_tools_streaming(question(), router(), 5)
        .map(Result::unwrap)
        .collect()
        .await;
    let mut shown = Vec::new();
    for event in &events {
        shown.push(match event {
            ToolEvent::Text(text) => format!("text {text}"),
            ToolEvent::Reasoning(text) => format!("reasoning {text}"),
            ToolEvent::ToolCalls(calls) => format!(
                "calls {}",
                calls
                    .iter()
                    .map(|call| format!("{}:{}", call.id, call.function.arguments))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            ToolEvent::ToolOutput(output) => {
                assert_eq!(output.status, ToolStatus::Ok);
                format!("output {} {}", output.call_id, output.content)
            }
            ToolEvent::Done(run) => format!("done {} rounds", run.rounds),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(
        shown,
        [
            r#"calls call_p:{"city":"Paris"} call_r:{"city":"Rome"}"#,
            r#"output call_p {"city":"Paris","temp_c":18}"#,
            r#"output call_r {"city":"Rome","temp_c":24}"#,
            "reasoning Compare 18 and 24.",
            "text Rome ",
            "text is warmer.",
            "done 2 rounds",
        ]
    );
    let Some(ToolEvent::Done(run)) = events.last() else {
        unreachable!()
    };
    assert_eq!(run.completion.text(), Some("Rome is warmer."));
    assert_eq!(run.messages.len(), 5);
    let second = server.requests()[1].json();
    assert_eq!(second["stream"], true);
    assert_eq!(
        second["messages"][1]["tool_calls"][0]["function"]["arguments"],
        r#"{"city":"Paris"}"#
    );
    assert_eq!(second["messages"][3]["tool_call_id"], "call_r");
}

#[tokio::test]
async fn an_error_ends_the_streaming_loop() {
    let server = TestServer::start(|_| {
        Reply::json(
            400,
            &json!({"error": {"message": "bad tools", "type": "invalid_request_error"}}),
        )
    })
    .await;
    let mut events = client(&server).run_tools_streaming(question(), router(), 5);
    let error = events.next().await.unwrap().unwrap_err();
    assert!(
        error.is_rejected() && error.to_string().contains("bad tools"),
        "{error}"
    );
    assert!(events.next().await.is_none());
}

/// A person, as the model describes one.
#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct Person {
    name: String,
    /// Years.
    age: u32,
    nickname: Option<String>,
}

#[tokio::test]
async fn a_json_schema_answer_parses_into_its_type() {
    let server = TestServer::start(|request| {
        let sent = request.json();
        assert_eq!(sent["response_format"]["json_schema"]["strict"], true);
        Reply::json(
            200,
            &answer(
                json!({"role": "assistant", "content": r#"{"name":"Ada","age":36,"nickname":null}"#}),
                "stop",
            ),
        )
    })
    .await;
    let request =
        question().response_format(gptproto::tools::response_format::<Person>("person").unwrap());
    let answer = client(&server).chat(request).await.unwrap();
    let person: Person = answer.parse().unwrap();
    assert_eq!(
        person,
        Person {
            name: "Ada".into(),
            age: 36,
            nickname: None
        }
    );
    let schema = &server.requests()[0].json()["response_format"]["json_schema"]["schema"];
    assert_eq!(schema["required"], json!(["name", "age", "nickname"]));
    assert_eq!(schema["properties"]["age"]["description"], "Years.");
}

/// The tool loop in the second turn of a conversation, against a server that keeps DeepSeek's
/// rule (an earlier turn's reasoning is a 400; the tool call's, in the turn under way, is
/// required): DeepSeek's profile sends back exactly what it must; replaying all of it, or none,
/// is refused.
#[tokio::test]
async fn reasoning_goes_back_in_the_tool_loop_as_deepseek_requires() {
    use gptproto::{Message, Provider, ReasoningReplay};
    use gptproto_testkit::providers::{REASONING, deepseek_refusal};

    let server = TestServer::start(|request| {
        if let Some(refusal) = deepseek_refusal(request) {
            return refusal;
        }
        let message = match round(request) {
            0 => json!({"role": "assistant", "content": null, "reasoning_content": REASONING,
                        "tool_calls": [call("call_1", "get_weather", r#"{"city":"Rome"}"#)]}),
            _ => json!({"role": "assistant", "content": "24 °C in Rome.", "reasoning_content": REASONING}),
        };
        let finish = if round(request) == 0 { "tool_calls" } else { "stop" };
        Reply::json(200, &answer(message, finish))
    })
    .await;
    let conversation = ChatRequest::new("deepseek-chat")
        .user("Hello")
        .message(Message {
            reasoning_content: Some("A greeting.".to_owned()),
            ..Message::assistant("Hi!")
        })
        .user("The weather in Rome?");
    let deepseek = |replay: Option<ReasoningReplay>| {
        let mut builder = Client::builder()
            .ignore_env()
            .base_url(server.base_url())
            .provider(Provider::DeepSeek)
            .api_key("sk-test")
            .proxy(Proxy::none());
        if let Some(replay) = replay {
            builder = builder.reasoning_replay(replay);
        }
        builder.build().unwrap()
    };
    let run = deepseek(None)
        .run_tools(conversation.clone(), &router(), 5)
        .await
        .unwrap();
    assert_eq!(run.completion.text(), Some("24 °C in Rome."));
    let second = server.requests()[1].json();
    let messages = second["messages"].as_array().unwrap();
    assert!(messages[1].get("reasoning_content").is_none(), "{second}");
    assert_eq!(messages[3]["reasoning_content"], REASONING, "{second}");
    // The whole conversation keeps every reasoning, as received.
    assert_eq!(
        run.messages[1].reasoning_content.as_deref(),
        Some("A greeting.")
    );
    // The rule, kept by the server: all of it back is refused, and so is none.
    for replay in [ReasoningReplay::Keep, ReasoningReplay::Omit] {
        let error = deepseek(Some(replay))
            .run_tools(conversation.clone(), &router(), 5)
            .await
            .unwrap_err();
        assert_eq!(
            error.status().map(|s| s.as_u16()),
            Some(400),
            "{replay:?}: {error}"
        );
        assert!(error.to_string().contains("reasoning_content"), "{error}");
    }
}
