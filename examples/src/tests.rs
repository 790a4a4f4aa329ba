//! The examples' command line and where their requests go.

use super::*;

fn words(text: &str) -> Vec<String> {
    text.split(' ').map(str::to_owned).collect()
}

#[test]
fn the_command_line_takes_a_ca_and_a_timeout() {
    let args =
        Args::from_words(words("https://a.example/v1 hi --timeout 2.5 --ca ca.pem")).unwrap();
    assert_eq!(args.timeout, Some(Duration::from_millis(2500)));
    assert_eq!(args.ca.as_deref(), Some("ca.pem"));
    for bad in [
        "https://a.example/v1",
        "https://a.example/v1 hi --timeout",
        "https://a.example/v1 hi --timeout 0",
        "https://a.example/v1 hi --timeout soon",
        "https://a.example/v1 hi --retries 3",
    ] {
        assert!(Args::from_words(words(bad)).is_err(), "{bad}");
    }
}

#[test]
fn targets_come_from_the_requests_uri() {
    let uri = |text: &str| text.parse::<http::Uri>().unwrap();
    assert_eq!(
        Target::of(&uri("https://gptproto.com/v1")).unwrap(),
        Target {
            tls: true,
            host: "gptproto.com".into(),
            port: 443
        }
    );
    assert_eq!(
        Target::of(&uri("http://[::1]:8080/v1")).unwrap().host,
        "::1"
    );
    assert!(Target::of(&uri("ftp://x/v1")).is_err());
}
