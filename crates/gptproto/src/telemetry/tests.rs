use super::*;

#[test]
fn response_formats_map_to_output_types() {
    assert_eq!(output_type(&ResponseFormat::Text), "text");
    assert_eq!(output_type(&ResponseFormat::JsonObject), "json");
}

#[test]
fn nobody_listening_means_no_record() {
    let telemetry = Arc::new(Telemetry::new(
        &TelemetryOptions::default(),
        &"http://127.0.0.1:1/v1/chat/completions".parse().unwrap(),
    ));
    let record = telemetry.call(&ChatRequest::new("m").user("hi"));
    #[cfg(not(feature = "otel"))]
    assert!(record.is_none());
    #[cfg(feature = "otel")]
    assert!(
        record.is_some(),
        "metrics are recorded without a subscriber"
    );
}

#[test]
fn the_builder_names_the_provider() {
    let options = TelemetryOptions {
        provider: Some("my-gateway".into()),
        ..TelemetryOptions::default()
    };
    let telemetry = Telemetry::new(&options, &"https://api.openai.com/v1".parse().unwrap());
    assert_eq!(telemetry.provider, "my-gateway");
    let telemetry = Telemetry::new(
        &TelemetryOptions::default(),
        &"https://gptproto.com/v1".parse().unwrap(),
    );
    assert_eq!(telemetry.provider, "gptproto");
    assert_eq!(
        (telemetry.server_address.as_str(), telemetry.server_port),
        ("gptproto.com", 443)
    );
}
