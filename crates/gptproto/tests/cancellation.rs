//! Cancellation at every poll: a call (and, streamed, the reading of its stream) is dropped
//! after k polls, for every k from 0 to the polls a whole call takes; after each drop the same
//! client answers a whole call, and after them all nothing is left behind: the server's
//! connections, the runtime's tasks and the process's file descriptors are back to where one
//! answered call leaves them. Over TLS, HTTP/1.1 and HTTP/2, streamed and not.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use gptproto::{Client, Proxy, Roots};
use gptproto_testkit::fixtures::{completion, story};
use gptproto_testkit::{Reply, TestServer, TlsOptions};

mod support;
use support::{call_text, descriptors, tasks};

/// `future`, polled at most `limit` times: `None` if it had not finished by then (it is then
/// dropped), with the polls made.
struct Limited<F: Future> {
    future: Pin<Box<F>>,
    limit: usize,
    polls: usize,
}

impl<F: Future> Future for Limited<F> {
    type Output = (Option<F::Output>, usize);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls == self.limit {
            return Poll::Ready((None, self.polls));
        }
        self.polls += 1;
        let polls = self.polls;
        self.future
            .as_mut()
            .poll(cx)
            .map(|output| (Some(output), polls))
    }
}

fn limited<F: Future>(future: F, limit: usize) -> Limited<F> {
    Limited {
        future: Box::pin(future),
        limit,
        polls: 0,
    }
}

/// Waits (at most 5 s) until `done` holds.
async fn settle(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_dropped_after_any_number_of_polls_leaves_nothing_behind() {
    for http2 in [false, true] {
        for streamed in [true, false] {
            let options = TlsOptions {
                http2,
                ..TlsOptions::default()
            };
            let server = TestServer::start_tls_with(options, move |_| {
                if streamed {
                    Reply::sse(&story(12))
                        .in_pieces(40)
                        .paced(Duration::from_millis(1))
                } else {
                    Reply::json(200, &completion(&["done"]))
                        .delayed(Duration::from_millis(2))
                        .in_pieces(64)
                        .paced(Duration::from_millis(1))
                }
            })
            .await;
            // Before the client: the server alone.
            let alone = (server.open_connections(), tasks(), descriptors());
            let client = Client::builder()
                .ignore_env()
                .base_url(server.base_url())
                .api_key("sk-test")
                .proxy(Proxy::none())
                .roots(Roots::Custom(server.ca().unwrap().root_store()))
                .max_retries(0)
                .build()
                .unwrap();
            let label = format!(
                "{} {}",
                if http2 { "HTTP/2" } else { "HTTP/1.1" },
                if streamed { "streamed" } else { "JSON" }
            );
            // A whole call: its polls, and what it leaves (a pooled connection).
            let (whole, polls) = limited(call_text(&client, streamed), usize::MAX).await;
            let expected = whole.unwrap().unwrap();
            assert!(settle(|| server.open_connections() == 1).await, "{label}");
            let warm = (server.open_connections(), tasks(), descriptors());

            // How many calls given at least the polls a whole call took completed: the number
            // of polls a call needs varies with how the pieces coalesce (a busy machine), so
            // one of the three is enough to show the limit lets a call finish.
            let mut finished = 0;
            for limit in 0..=polls + 2 {
                let (outcome, _) = limited(call_text(&client, streamed), limit).await;
                if let Some(answer) = outcome {
                    assert_eq!(answer.unwrap(), expected, "{label}, {limit} polls");
                    if limit >= polls {
                        finished += 1;
                    }
                }
                // The client goes on.
                let answer =
                    tokio::time::timeout(Duration::from_secs(10), call_text(&client, streamed))
                        .await
                        .unwrap_or_else(|_| {
                            panic!("{label}: the call after a drop at poll {limit} hung")
                        });
                assert_eq!(
                    answer.unwrap(),
                    expected,
                    "{label}: after a drop at poll {limit}"
                );
            }
            assert!(
                finished > 0,
                "{label}: no call given {polls}+ polls finished"
            );
            // With the client alive: its pool holds an idle connection or two (hyper-util's
            // pool may race a new connection against one coming back and keep both), not one
            // per dropped call.
            let pooled = server.open_connections();
            assert!(
                pooled <= 2,
                "{label}: {pooled} connections open after the drops"
            );
            // The client dropped: everything goes, back to the server alone.
            drop(client);
            let left =
                settle(|| (server.open_connections(), tasks(), descriptors()) <= alone).await;
            let now = (server.open_connections(), tasks(), descriptors());
            println!(
                "{label}: dropped at each of 0..={} polls (a whole call takes {polls}); (connections, tasks, descriptors): server alone {alone:?}, warm client {warm:?}, after the drops {pooled} connections, client dropped {now:?}",
                polls + 2
            );
            assert!(
                left,
                "{label}: left behind: {alone:?} before the client, {now:?} after it"
            );
        }
    }
}
