use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use proptest::prelude::*;

use super::*;
use crate::exchange::api_error;
use crate::failure::{Failure, FailureClass};
use crate::ratelimit::headers::parse_go_duration;
use crate::wire::{ChatRequest, Usage};

const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn limits(rpm: Option<u64>, tpm: Option<u64>) -> RateLimiter {
    RateLimiter::new(RateLimitConfig {
        requests_per_minute: rpm,
        tokens_per_minute: tpm,
        ..RateLimitConfig::default()
    })
}

fn request(text: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest::new("m").user(text).max_tokens(max_tokens)
}

fn answered<'a>(usage: Option<&'a Usage>) -> Outcome<'a> {
    Outcome::Answered {
        usage,
        headers: RateLimitHeaders::default(),
    }
}

fn admit(limiter: &mut RateLimiter, now: Duration) -> Ticket {
    match limiter.poll(now) {
        Admission::Admit(ticket) => ticket,
        other => panic!("expected an admission at {now:?}, got {other:?}"),
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
}

fn usage(prompt: u64, completion: u64) -> Usage {
    Usage::new(prompt, completion)
}

#[test]
fn go_durations_as_openai_sends_them() {
    for (text, expected) in [
        ("1s", Some(1_000)),
        ("6m0s", Some(360_000)),
        ("20ms", Some(20)),
        ("1h2m3.5s", Some(3_723_500)),
        ("0s", Some(0)),
        ("1.5", Some(1_500)),
        ("2m30s", Some(150_000)),
        ("", None),
        ("1x", None),
        ("-1s", None),
        ("s", None),
        ("1s2", None),
    ] {
        assert_eq!(
            parse_go_duration(text),
            expected.map(Duration::from_millis),
            "{text:?}"
        );
    }
    assert_eq!(parse_go_duration("500us"), Some(Duration::from_micros(500)));
    assert_eq!(parse_go_duration("7µs"), Some(Duration::from_micros(7)));
}

#[test]
fn the_ratelimit_headers_are_read_and_bad_ones_ignored() {
    let read = RateLimitHeaders::from_headers(&headers(&[
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-limit-tokens", "2000000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-remaining-tokens", "1999986"),
        ("x-ratelimit-reset-requests", "6ms"),
        ("x-ratelimit-reset-tokens", "0s"),
    ]));
    assert_eq!(read.limit(LimitKind::Requests), Some(10_000));
    assert_eq!(read.limit(LimitKind::Tokens), Some(2_000_000));
    assert_eq!(read.remaining(LimitKind::Requests), Some(9_999));
    assert_eq!(read.remaining(LimitKind::Tokens), Some(1_999_986));
    assert_eq!(read.reset(LimitKind::Requests), Some(ms(6)));
    assert_eq!(read.reset(LimitKind::Tokens), Some(Duration::ZERO));
    let bad = RateLimitHeaders::from_headers(&headers(&[
        ("x-ratelimit-limit-requests", "lots"),
        ("x-ratelimit-reset-tokens", "soon"),
    ]));
    assert!(bad.is_empty());
}

fn rate_limited_error(body: &str, pairs: &[(&'static str, &str)]) -> crate::ApiError {
    api_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers(pairs),
        body.as_bytes(),
    )
}

#[test]
fn retry_hints_from_headers_then_the_message() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let by_ms = rate_limited_error("{}", &[("retry-after-ms", "250"), ("retry-after", "9")]);
    assert_eq!(Failure::Response(&by_ms).retry_hint(now), Some(ms(250)));
    let by_seconds = rate_limited_error("{}", &[("retry-after", "2")]);
    assert_eq!(
        Failure::Response(&by_seconds).retry_hint(now),
        Some(ms(2_000))
    );
    let date = httpdate::fmt_http_date(now + Duration::from_secs(3));
    let by_date = rate_limited_error("{}", &[("retry-after", date.as_str())]);
    assert_eq!(Failure::Response(&by_date).retry_hint(now), Some(ms(3_000)));
    for (message, expected) in [
        ("Please try again in 84ms.", Some(ms(84))),
        (
            "Rate limit reached ... Please try again in 1.2s. Visit ...",
            Some(ms(1_200)),
        ),
        ("please try again in 6m0s", Some(ms(360_000))),
        ("Try again in 20s", Some(ms(20_000))),
        ("Rate limit reached", None),
        ("try again in a moment", None),
    ] {
        let body = serde_json::json!({"error": {"message": message, "type": "requests"}});
        let api = rate_limited_error(&body.to_string(), &[]);
        assert_eq!(
            Failure::Response(&api).retry_hint(now),
            expected,
            "{message}"
        );
    }
}

#[test]
fn which_limit_a_429_names() {
    let kind = |body: serde_json::Value| limit_kind(&rate_limited_error(&body.to_string(), &[]));
    assert_eq!(
        kind(
            serde_json::json!({"error": {"message": "x", "type": "tokens", "code": "rate_limit_exceeded"}})
        ),
        Some(LimitKind::Tokens)
    );
    assert_eq!(
        kind(serde_json::json!({"error": {"message": "x", "type": "requests"}})),
        Some(LimitKind::Requests)
    );
    assert_eq!(
        kind(
            serde_json::json!({"error": {"message": "Rate limit reached for gpt-4o on requests per min (RPM): Limit 3"}})
        ),
        Some(LimitKind::Requests)
    );
    assert_eq!(
        kind(serde_json::json!({"error": {"message": "on tokens per min (TPM): Limit 30000"}})),
        Some(LimitKind::Tokens)
    );
    assert_eq!(
        kind(serde_json::json!({"error": {"message": "Throttling"}})),
        None
    );
}

#[test]
fn failures_a_wait_does_not_fix_are_told_apart() {
    let error = |status: u16, body: serde_json::Value| {
        api_error(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.to_string().as_bytes(),
        )
    };
    let permanent = [
        error(
            429,
            serde_json::json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}),
        ),
        error(400, serde_json::json!({"error": {"message": "bad"}})),
        error(
            401,
            serde_json::json!({"error": {"message": "Incorrect API key"}}),
        ),
        error(403, serde_json::json!({"error": {"message": "forbidden"}})),
        error(
            404,
            serde_json::json!({"error": {"message": "no such model"}}),
        ),
        error(
            429,
            serde_json::json!({"error": {"message": "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 50000."}}),
        ),
    ];
    for api in &permanent {
        assert!(
            !FailureClass::of(&Failure::Response(api)).is_retryable(),
            "{api}"
        );
    }
    for api in [
        error(
            429,
            serde_json::json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
        ),
        error(500, serde_json::json!({"error": {"message": "oops"}})),
        error(503, serde_json::json!({})),
    ] {
        assert!(
            FailureClass::of(&Failure::Response(&api)).is_retryable(),
            "{api}"
        );
    }
}

#[test]
fn budgets_start_empty_and_pace_at_the_limit() {
    let mut limiter = RateLimiter::new(RateLimitConfig {
        requests_per_minute: Some(600), // 10 a second
        concurrency: Some(100),
        ..RateLimitConfig::default()
    });
    for _ in 0..30 {
        limiter.enqueue(0, limiter.reserve(&request("hi", 10)));
    }
    let mut now = Duration::ZERO;
    let mut admitted = Vec::new();
    while admitted.len() < 30 {
        match limiter.poll(now) {
            Admission::Admit(_) => admitted.push(now),
            Admission::WaitUntil(at) => now = at,
            other => panic!("{other:?}"),
        }
    }
    // Evenly, a tenth of a second apart, the first after a tenth: never a burst.
    assert_eq!(admitted[0], ms(100));
    assert_eq!(admitted[29], ms(3_000));
    assert!(admitted.windows(2).all(|pair| pair[1] - pair[0] >= ms(99)));
}

#[test]
fn a_request_larger_than_the_window_goes_alone_when_full_and_is_not_starved() {
    // 60,000 tokens a minute: 1,000 a second, a window of 1,000.
    let mut limiter = limits(None, Some(60_000));
    limiter.enqueue(0, limiter.reserve(&request("small", 100))); // ~106
    limiter.enqueue(0, limiter.reserve(&request("huge", 5_000)));
    limiter.enqueue(0, limiter.reserve(&request("small", 100)));
    let first = match limiter.poll(Duration::ZERO) {
        Admission::WaitUntil(at) => at,
        other => panic!("{other:?}"),
    };
    let small = admit(&mut limiter, first);
    let small_tokens = small.reservation().tokens();
    // The huge one waits for a full bucket (not for 5,000 tokens, which it would never have):
    let Admission::WaitUntil(full) = limiter.poll(first) else {
        panic!()
    };
    assert_eq!(full, first + ms(1_000));
    let huge = admit(&mut limiter, full);
    assert_eq!(huge.reservation().output, 5_000);
    // The small one behind it waits for the debt to be paid: FIFO, and nothing jumped ahead.
    let Admission::WaitUntil(after) = limiter.poll(full) else {
        panic!()
    };
    let debt = huge.reservation().tokens() as f64 - 1_000.0;
    let expected = full + Duration::from_secs_f64((debt + small_tokens as f64) / 1_000.0);
    assert!(after.abs_diff(expected) < MS, "{after:?} vs {expected:?}");
}

#[test]
fn with_nothing_given_one_request_probes_until_the_first_answer() {
    let mut limiter = limits(None, None);
    for _ in 0..3 {
        limiter.enqueue(0, limiter.reserve(&request("hi", 10)));
    }
    let first = admit(&mut limiter, Duration::ZERO);
    assert_eq!(limiter.poll(ms(1)), Admission::WaitForAnswer);
    // The server tells its limits: 120 a minute, two a second.
    let told = RateLimitHeaders::from_headers(&headers(&[
        ("x-ratelimit-limit-requests", "120"),
        ("x-ratelimit-remaining-requests", "119"),
    ]));
    limiter.settle(
        &first,
        ms(300),
        &Outcome::Answered {
            usage: None,
            headers: told,
        },
    );
    assert_eq!(limiter.rates_per_minute().0, Some(120.0));
    // Paced from an empty bucket from here: half a second per request.
    assert_eq!(limiter.poll(ms(300)), Admission::WaitUntil(ms(800)));
}

#[test]
fn what_remains_on_the_server_lowers_the_budget() {
    // Another client spends the same key: the server says 0 requests remain, reset in 2 s.
    let mut limiter = limits(Some(6_000), None); // 100 a second
    for _ in 0..2 {
        limiter.enqueue(0, limiter.reserve(&request("hi", 10)));
    }
    let ticket = admit(&mut limiter, ms(10));
    let told = RateLimitHeaders::from_headers(&headers(&[
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "2s"),
    ]));
    limiter.settle(
        &ticket,
        ms(50),
        &Outcome::Answered {
            usage: None,
            headers: told,
        },
    );
    let Admission::WaitUntil(at) = limiter.poll(ms(50)) else {
        panic!()
    };
    assert!(at >= ms(2_010), "{at:?}");
}

#[test]
fn a_429_pauses_its_budget_for_the_servers_hint() {
    let mut limiter = limits(Some(6_000), None);
    for _ in 0..2 {
        limiter.enqueue(0, limiter.reserve(&request("hi", 10)));
    }
    let ticket = admit(&mut limiter, ms(10));
    limiter.settle(
        &ticket,
        ms(20),
        &Outcome::RateLimited {
            kind: Some(LimitKind::Requests),
            retry_after: Some(ms(700)),
            headers: RateLimitHeaders::default(),
        },
    );
    limiter.requeue(ticket);
    assert_eq!(limiter.queued(), 2);
    let Admission::WaitUntil(at) = limiter.poll(ms(20)) else {
        panic!()
    };
    assert!(at >= ms(720), "{at:?}");
    // The given limit is a ceiling, not the truth: a 429 the server did not explain by a
    // limit of its own cuts the pace, which grows back under what was given.
    assert_eq!(limiter.rates_per_minute().0, Some(4_200.0));
}

/// LiteLLM in front of a model allowed 30 requests a minute, run with `--rpm 300`: every
/// answer says `x-ratelimit-limit-requests: 30`, which lowers the pace at once; a 429 that
/// says nothing of when to come back waits 1 s, then 2, 4, ... up to a minute, once per
/// burst; an answer starts the waits over.
#[test]
fn a_given_limit_is_a_ceiling_lowered_by_the_servers_and_unhinted_429s_wait_longer() {
    let mut limiter = limits(Some(300), None);
    for key in 0..100 {
        limiter.enqueue(key, limiter.reserve(&request("hi", 10)));
    }
    let told = RateLimitHeaders::from_headers(&headers(&[("x-ratelimit-limit-requests", "30")]));
    let ticket = admit(&mut limiter, ms(200));
    limiter.settle(
        &ticket,
        ms(300),
        &Outcome::Answered {
            usage: None,
            headers: told,
        },
    );
    assert_eq!(limiter.rates_per_minute().0, Some(30.0));
    // A server telling more than was given does not raise it.
    let more = RateLimitHeaders::from_headers(&headers(&[("x-ratelimit-limit-requests", "9000")]));
    let ticket = admit(&mut limiter, ms(2_300));
    limiter.settle(
        &ticket,
        ms(2_400),
        &Outcome::Answered {
            usage: None,
            headers: more,
        },
    );
    assert_eq!(limiter.rates_per_minute().0, Some(300.0));
    // 429s without a hint: a burst of three counts once.
    let unhinted = Outcome::RateLimited {
        kind: Some(LimitKind::Requests),
        retry_after: None,
        headers: RateLimitHeaders::default(),
    };
    let mut now = ms(10_000);
    let mut waits = Vec::new();
    for _ in 0..9 {
        let tickets: Vec<Ticket> = (0..3)
            .map(|_| admit_eventually(&mut limiter, &mut now))
            .collect();
        for ticket in &tickets {
            limiter.settle(ticket, now, &unhinted);
        }
        let Admission::WaitUntil(until) = limiter.poll(now) else {
            panic!("paused")
        };
        waits.push((until - now).as_secs());
        now = until;
        for ticket in tickets {
            limiter.requeue(ticket);
        }
    }
    // (Each wait, then the time the cut pace takes to earn a request again.)
    for (wait, expected) in waits.iter().zip([1, 2, 4, 8, 16, 32, 60, 60, 60]) {
        assert!(
            (expected..=expected + 5).contains(wait),
            "{waits:?}: {wait} for {expected}"
        );
    }
    // Its reset header, when it sends one, is the wait.
    let reset = RateLimitHeaders::from_headers(&headers(&[("x-ratelimit-reset-requests", "7s")]));
    let ticket = admit(&mut limiter, now);
    limiter.settle(
        &ticket,
        now,
        &Outcome::RateLimited {
            kind: Some(LimitKind::Requests),
            retry_after: None,
            headers: reset,
        },
    );
    limiter.requeue(ticket);
    let Admission::WaitUntil(until) = limiter.poll(now) else {
        panic!("paused")
    };
    let pace = Duration::from_secs_f64(60.0 / limiter.rates_per_minute().0.unwrap());
    assert!(until - now >= Duration::from_secs(7), "{:?}", until - now);
    assert!(
        until - now <= Duration::from_secs(7) + pace,
        "{:?}",
        until - now
    );
    // An answer starts the unhinted waits over.
    now = until;
    let ticket = admit_eventually(&mut limiter, &mut now);
    limiter.settle(&ticket, now, &answered(None));
    let ticket = admit_eventually(&mut limiter, &mut now);
    limiter.settle(&ticket, now, &unhinted);
    let Admission::WaitUntil(until) = limiter.poll(now) else {
        panic!("paused")
    };
    let pace = Duration::from_secs_f64(60.0 / limiter.rates_per_minute().0.unwrap());
    assert!(
        until - now <= Duration::from_secs(1) + pace,
        "{:?}",
        until - now
    );
    // Cut by the 429s, the pace never grows past what was given.
    assert!(limiter.rates_per_minute().0.unwrap() <= 300.0);
}

#[test]
fn without_headers_the_rate_doubles_until_a_429_then_is_cut_and_grows_slowly() {
    let mut limiter = limits(None, None);
    for _ in 0..200 {
        limiter.enqueue(0, limiter.reserve(&request("hi", 10)));
    }
    let first = admit(&mut limiter, Duration::ZERO);
    limiter.settle(&first, ms(100), &answered(None));
    assert_eq!(
        limiter.rates_per_minute().0,
        Some(60.0),
        "the probe's 1 a second"
    );
    let mut now = ms(100);
    let mut rates = Vec::new();
    for second in 1..=4 {
        send_all_until(&mut limiter, &mut now, ms(100 + 1_000 * second));
        let ticket = admit_eventually(&mut limiter, &mut now);
        limiter.settle(&ticket, now, &answered(None));
        rates.push(limiter.rates_per_minute().0.unwrap());
    }
    assert_eq!(
        rates,
        [120.0, 240.0, 480.0, 960.0],
        "slow start doubles each second"
    );
    let ticket = admit_eventually(&mut limiter, &mut now);
    limiter.settle(
        &ticket,
        now,
        &Outcome::RateLimited {
            kind: None,
            retry_after: None,
            headers: RateLimitHeaders::default(),
        },
    );
    let cut = limiter.rates_per_minute().0.unwrap();
    assert!((cut - 960.0 * 0.7).abs() < 1e-6, "{cut}");
    // Then, after the wait a 429 without a hint costs (1 s), it grows by 1/14 of the cut
    // rate each second.
    let cut_at = now;
    send_all_until(&mut limiter, &mut now, cut_at + Duration::from_secs(3));
    let ticket = admit_eventually(&mut limiter, &mut now);
    limiter.settle(&ticket, now, &answered(None));
    let grown = limiter.rates_per_minute().0.unwrap();
    // (No faster: and no higher than twice what went in the last second, which the wait
    // after the 429 may hold back.)
    let expected = cut * (1.0 + (now - cut_at).as_secs_f64() / 14.0);
    assert!(
        grown > cut * 1.05 && grown <= expected + 1e-6,
        "{cut} -> {grown}, not up to {expected}"
    );
}

/// Sends everything the rate admits until `end`, each answered at once (the server keeps up:
/// the rate is what holds requests back).
fn send_all_until(limiter: &mut RateLimiter, now: &mut Duration, end: Duration) {
    loop {
        match limiter.poll(*now) {
            Admission::Admit(ticket) => limiter.settle(&ticket, *now, &answered(None)),
            Admission::WaitUntil(at) if at <= end => *now = at,
            Admission::WaitUntil(_) => break,
            other => panic!("{other:?}"),
        }
    }
    *now = end;
}

fn admit_eventually(limiter: &mut RateLimiter, now: &mut Duration) -> Ticket {
    loop {
        match limiter.poll(*now) {
            Admission::Admit(ticket) => return ticket,
            Admission::WaitUntil(at) => *now = at,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn usage_settles_the_prompt_and_calibrates_the_estimate() {
    let mut limiter = limits(None, Some(600_000));
    let ask = request(&"word ".repeat(400), 100); // 2,000 characters: ~500 + 7 estimated
    let reservation = limiter.reserve(&ask);
    assert_eq!(reservation.prompt, reservation.raw_prompt);
    limiter.enqueue(0, reservation);
    let mut now = Duration::ZERO;
    let ticket = admit_eventually(&mut limiter, &mut now);
    let raw = ticket.reservation().raw_prompt;
    // The server counted twice as many prompt tokens.
    let reported = usage(raw * 2, 40);
    limiter.settle(&ticket, now, &answered(Some(&reported)));
    let next = limiter.reserve(&ask);
    assert_eq!(next.prompt, raw * 2, "calibrated from usage");
    assert_eq!(
        next.output, 100,
        "max_tokens is reserved whatever was generated"
    );
}

#[test]
fn unused_output_is_given_back_only_when_the_provider_charges_what_is_generated() {
    for charge_unused in [true, false] {
        let mut limiter = RateLimiter::new(RateLimitConfig {
            tokens_per_minute: Some(60_000),
            charge_unused_output: charge_unused,
            ..RateLimitConfig::default()
        });
        limiter.enqueue(0, limiter.reserve(&request("hi", 900)));
        limiter.enqueue(0, limiter.reserve(&request("hi", 900)));
        let mut now = Duration::ZERO;
        let ticket = admit_eventually(&mut limiter, &mut now);
        let prompt = ticket.reservation().prompt;
        limiter.settle(&ticket, now, &answered(Some(&usage(prompt, 10))));
        let Admission::WaitUntil(next) = limiter.poll(now) else {
            panic!()
        };
        let wait = next - now;
        if charge_unused {
            assert!(wait > ms(800), "{wait:?}");
        } else {
            assert!(wait < ms(100), "{wait:?}: 890 tokens given back");
        }
    }
}

/// A server that enforces its limits as providers do: per budget, a bucket of one second of
/// the limit, full at the start; a request is admitted when both have its cost (a cost larger
/// than a bucket when it is full), and charged at admission.
struct SimulatedServer {
    buckets: [(f64, f64, Duration); 2], // (rate per second, level, at)
}

impl SimulatedServer {
    fn new(rpm: u64, tpm: u64) -> Self {
        let full = |per_minute: u64| {
            (
                per_minute as f64 / 60.0,
                per_minute as f64 / 60.0,
                Duration::ZERO,
            )
        };
        Self {
            buckets: [full(rpm), full(tpm)],
        }
    }

    fn admit(&mut self, now: Duration, tokens: f64) -> bool {
        let costs = [1.0, tokens];
        for (rate, level, at) in &mut self.buckets {
            *level = (*level + *rate * (now - *at).as_secs_f64()).min(*rate);
            *at = now;
        }
        let fits = self
            .buckets
            .iter()
            .zip(costs)
            .all(|((rate, level, _), cost)| *level + 1e-6 * cost.max(1.0) >= cost.min(*rate));
        if fits {
            for ((_, level, _), cost) in self.buckets.iter_mut().zip(costs) {
                *level -= cost;
            }
        }
        fits
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Given the true limits, the limiter never causes a 429, whatever the arrivals, sizes and
    /// latencies; and it keeps up with the limits (the run ends within 5% + a second of the
    /// time they allow, once everything has arrived).
    #[test]
    #[cfg_attr(miri, ignore = "64 simulated runs: too slow under Miri (and no unsafe code here)")]
    fn given_the_true_limits_the_limiter_never_causes_a_429(
        rpm in 60u64..3_000,
        tpm in 6_000u64..300_000,
        requests in prop::collection::vec(
            (0u64..20_000, 1usize..4_000, 1u32..2_000, 1u64..800),
            1..200,
        ),
    ) {
        // Each: arrival (ms), prompt characters, max_tokens, latency (ms).
        let mut arrivals: Vec<(Duration, ChatRequest, Duration)> = requests
            .iter()
            .map(|&(at, chars, max_tokens, latency)| {
                (ms(at), request(&"x".repeat(chars), max_tokens), ms(latency))
            })
            .collect();
        arrivals.sort_by_key(|(at, ..)| *at);
        let mut server = SimulatedServer::new(rpm, tpm);
        let mut limiter = limits(Some(rpm), Some(tpm));
        let mut now = Duration::ZERO;
        let mut next_arrival = 0;
        let mut latencies = std::collections::VecDeque::new();
        let mut completions: Vec<(Duration, Ticket, u64)> = Vec::new();
        let mut rejected = 0;
        let mut served = 0;
        let mut tokens_total = 0.0;
        // Requests larger than a window's tokens: each waits for a full bucket (a window more
        // than its tokens need), as the module's documentation says.
        let mut oversized = 0;
        let mut waiting_until: Option<Duration>;
        loop {
            while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= now {
                let (_, ask, latency) = &arrivals[next_arrival];
                limiter.enqueue(0, limiter.reserve(ask));
                latencies.push_back(*latency);
                next_arrival += 1;
            }
            completions.sort_by_key(|(at, ..)| *at);
            while completions.first().is_some_and(|(at, ..)| *at <= now) {
                let (_, ticket, prompt) = completions.remove(0);
                let reported = usage(prompt, 1);
                limiter.settle(&ticket, now, &answered(Some(&reported)));
            }
            waiting_until = None;
            loop {
                match limiter.poll(now) {
                    Admission::Admit(ticket) => {
                        let tokens = ticket.reservation().tokens() as f64;
                        tokens_total += tokens;
                        if tokens > tpm as f64 / 60.0 {
                            oversized += 1;
                        }
                        let latency = latencies.pop_front().unwrap();
                        if server.admit(now, tokens) {
                            served += 1;
                            let prompt = ticket.reservation().prompt;
                            completions.push((now + latency, ticket, prompt));
                        } else {
                            rejected += 1;
                            break;
                        }
                    }
                    Admission::WaitUntil(at) => {
                        waiting_until = Some(at);
                        break;
                    }
                    Admission::Idle | Admission::WaitForAnswer => break,
                }
            }
            prop_assert_eq!(rejected, 0, "a 429 at {:?}", now);
            let next = [
                arrivals.get(next_arrival).map(|(at, ..)| *at),
                completions.iter().map(|(at, ..)| *at).min(),
                waiting_until,
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(next) => now = next.max(now + Duration::from_nanos(1)).min(next.max(now)),
                None => break,
            }
            if next == Some(now) && waiting_until == Some(now) {
                now += Duration::from_nanos(1);
            }
        }
        prop_assert_eq!(served, requests.len());
        // Pace: after the last arrival, what was left needs at most its share of the limits.
        let last_arrival = arrivals.last().unwrap().0.as_secs_f64();
        let floor = (requests.len() as f64 / (rpm as f64 / 60.0))
            .max(tokens_total / (tpm as f64 / 60.0));
        let allowed = last_arrival.max(floor) * 1.05 + 1.0 + 0.8 + 2.0 + f64::from(oversized);
        prop_assert!(now.as_secs_f64() <= allowed, "ended at {:?}, allowed {allowed} s", now);
    }
}

#[test]
fn a_429s_hint_holds_every_admission_whichever_limit_it_named() {
    let mut limiter = limits(Some(6_000), Some(6_000_000));
    for _ in 0..2 {
        limiter.enqueue(0, limiter.reserve(&request("hi", 10)));
    }
    let mut now = Duration::ZERO;
    let ticket = admit_eventually(&mut limiter, &mut now);
    limiter.settle(
        &ticket,
        now,
        &Outcome::RateLimited {
            kind: Some(LimitKind::Tokens),
            retry_after: Some(ms(500)),
            headers: RateLimitHeaders::default(),
        },
    );
    let Admission::WaitUntil(at) = limiter.poll(now) else {
        panic!()
    };
    assert!(at >= now + ms(500), "{at:?}");
}

#[test]
fn answers_that_keep_growing_the_rate_do_not_shield_it_from_the_next_cut() {
    let mut limiter = limits(None, None);
    for _ in 0..200 {
        limiter.enqueue(0, limiter.reserve(&request("hi", 10)));
    }
    let mut now = Duration::ZERO;
    let first = admit_eventually(&mut limiter, &mut now);
    limiter.settle(&first, now, &answered(None));
    let limited = Outcome::RateLimited {
        kind: Some(LimitKind::Requests),
        retry_after: None,
        headers: RateLimitHeaders::default(),
    };
    // The first 429 ends the slow start with a cut.
    let ticket = admit_eventually(&mut limiter, &mut now);
    limiter.settle(&ticket, now, &limited);
    let cut_at = now;
    // Answers keep coming (each grows the rate a little) ...
    while now < cut_at + ms(1_500) {
        let ticket = admit_eventually(&mut limiter, &mut now);
        limiter.settle(&ticket, now, &answered(None));
    }
    let before = limiter.rates_per_minute().0.unwrap();
    // ... and a 429 more than a second after the cut cuts again.
    let ticket = admit_eventually(&mut limiter, &mut now);
    limiter.settle(&ticket, now, &limited);
    let after = limiter.rates_per_minute().0.unwrap();
    assert!(after < before * 0.75, "{before} -> {after}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "1,500 simulated answers: too slow under Miri (and no unsafe code here)"
)]
fn a_probed_rate_does_not_grow_past_what_the_server_keeps_up_with() {
    // The run: no limits, no 429s, a server that answers 4 at a time in 0.5 s. The
    // rate once doubled each second without bound ("paced at 7864320") with 194 in flight.
    let mut limiter = limits(None, None);
    for _ in 0..2_000 {
        limiter.enqueue(0, limiter.reserve(&request("hi", 10)));
    }
    let mut now = Duration::ZERO;
    let mut slots = [Duration::ZERO; 4];
    let mut flying: Vec<(Duration, Ticket)> = Vec::new();
    let mut most = 0;
    let mut answered_count = 0;
    while answered_count < 1_500 {
        let wake = loop {
            match limiter.poll(now) {
                Admission::Admit(ticket) => {
                    let slot = slots.iter_mut().min().unwrap();
                    *slot = (*slot).max(now) + ms(500);
                    flying.push((*slot, ticket));
                }
                Admission::WaitUntil(at) => break Some(at),
                Admission::WaitForAnswer | Admission::Idle => break None,
            }
        };
        if answered_count > 500 {
            most = most.max(flying.len());
        }
        flying.sort_by_key(|(done, _)| *done);
        match (flying.first().map(|(done, _)| *done), wake) {
            (Some(done), Some(at)) if at < done => now = at,
            (Some(done), _) => {
                now = done;
                let (_, ticket) = flying.remove(0);
                limiter.settle(&ticket, now, &answered(None));
                answered_count += 1;
            }
            (None, Some(at)) => now = at,
            (None, None) => panic!("stuck"),
        }
    }
    assert!(most <= 12, "{most} in flight for the server's 4");
    let paced = limiter.rates_per_minute().0.unwrap();
    // 8 answers a second are 480 a minute: the pace says so, within the probe's doubling.
    assert!(paced <= 2.0 * 480.0 * 1.5, "paced at {paced}");
    assert!(limiter.concurrency_limit() <= 12);
}

#[test]
fn go_durations_and_try_again_in_as_their_docs_say() {
    use crate::ratelimit::headers::try_again_in;
    assert_eq!(
        parse_go_duration("1h2m3.5s"),
        Some(Duration::from_millis(3_723_500))
    );
    assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
    assert_eq!(parse_go_duration("soon"), None);
    let message = "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): \
                   Limit 30000, Used 29510, Requested 830. Please try again in 680ms.";
    assert_eq!(try_again_in(message), Some(Duration::from_millis(680)));
}
