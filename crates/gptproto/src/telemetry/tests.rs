use super::*;

fn config(base_url: &str) -> ClientConfig {
    ClientConfig::builder().base_url(base_url).build().unwrap()
}

#[test]
fn response_formats_map_to_output_types() {
    assert_eq!(output_type(&ResponseFormat::Text), "text");
    assert_eq!(output_type(&ResponseFormat::JsonObject), "json");
}

#[test]
fn nobody_listening_means_no_record() {
    let telemetry = Arc::new(Telemetry::new(
        &TelemetryOptions::default(),
        &config("http://127.0.0.1:1/v1"),
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
    let telemetry = Telemetry::new(&options, &config("https://api.openai.com/v1"));
    assert_eq!(telemetry.provider, "my-gateway");
    let telemetry = Telemetry::new(
        &TelemetryOptions::default(),
        &config("https://gptproto.com/v1"),
    );
    assert_eq!(telemetry.provider, "gptproto");
    assert_eq!(
        (telemetry.server_address.as_str(), telemetry.server_port),
        ("gptproto.com", 443)
    );
    // The config's provider, chosen or by its host, as the conventions name it.
    let chosen = ClientConfig::builder()
        .base_url("http://127.0.0.1:1/v1")
        .provider(gptproto_proto::provider::Provider::DeepSeek)
        .build()
        .unwrap();
    let telemetry = Telemetry::new(&TelemetryOptions::default(), &chosen);
    assert_eq!(telemetry.provider, "deepseek");
    let telemetry = Telemetry::new(
        &TelemetryOptions::default(),
        &config("https://eu-aiplatform.googleapis.com/v1"),
    );
    assert_eq!(telemetry.provider, "gcp.vertex_ai");
}
