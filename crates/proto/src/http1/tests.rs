//! The de-framer and the response reader, fed in every split; the reader delivering to a call.

use std::time::{Duration, SystemTime};

use super::*;
use crate::call::{CallOptions, Event, Start};
use crate::exchange::ClientConfig;

const CHUNKED: &[u8] =
    b"4\r\nWiki\r\n5;name=value\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: yes\r\n\r\n";

/// Everything a dechunker gives for `pieces`, then at the end.
fn dechunk(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool), String> {
    let mut dechunker = Dechunker::new();
    let mut data = Vec::new();
    let mut ended = false;
    let mut drain = |dechunker: &mut Dechunker| -> Result<(), String> {
        while let Some(piece) = dechunker.poll().map_err(|error| error.to_string())? {
            match piece {
                Piece::Data(bytes) => data.extend_from_slice(&bytes),
                Piece::End => ended = true,
            }
        }
        Ok(())
    };
    for piece in pieces {
        dechunker.push(piece);
        drain(&mut dechunker)?;
    }
    dechunker.eof();
    drain(&mut dechunker)?;
    Ok((data, ended))
}

#[test]
fn chunked_bodies_decode_the_same_however_split() {
    let expected = (b"Wikipedia in\r\n\r\nchunks.".to_vec(), true);
    assert_eq!(dechunk(&[CHUNKED]).unwrap(), expected);
    for at in 0..=CHUNKED.len() {
        let (a, b) = CHUNKED.split_at(at);
        assert_eq!(dechunk(&[a, b]).unwrap(), expected, "split at {at}");
    }
    let bytes: Vec<&[u8]> = CHUNKED.chunks(1).collect();
    assert_eq!(dechunk(&bytes).unwrap(), expected);
}

#[test]
fn a_broken_or_cut_chunked_body_is_an_error_not_a_shorter_body() {
    for (body, named) in [
        (&b"4\r\nWi"[..], "inside a chunk's data"),
        (b"4\r\nWiki\r\n", "inside a chunk size"),
        (b"4\r\nWikiXX", "not followed by CRLF"),
        (b"zz\r\n", "bad chunk size"),
        (b"\r\n", "bad chunk size"),
        (b"11111111111111111\r\n", "bad chunk size"),
        (b"0\r\n", "inside the trailers"),
    ] {
        let error = dechunk(&[body]).unwrap_err();
        assert!(error.contains(named), "{body:?}: {error}");
    }
    let long = vec![b'1'; 2000];
    assert!(dechunk(&[&long]).unwrap_err().contains("exceeds"));
    let mut trailers = b"0\r\n".to_vec();
    for _ in 0..40 {
        trailers.extend_from_slice(&[b'x'; 1000]);
        trailers.extend_from_slice(b"\r\n");
    }
    assert!(
        dechunk(&[&trailers])
            .unwrap_err()
            .contains("trailers exceed")
    );
}

/// Everything a reader gives for `response` fed in pieces of `size`.
fn read(response: &[u8], size: usize) -> Result<Vec<Read>, String> {
    let mut reader = ResponseReader::new();
    let mut out = Vec::new();
    for piece in response.chunks(size) {
        reader.push(piece);
        while let Some(read) = reader.poll().map_err(|error| error.to_string())? {
            out.push(read);
        }
    }
    reader.eof();
    while let Some(read) = reader.poll().map_err(|error| error.to_string())? {
        out.push(read);
    }
    Ok(out)
}

fn body_of(reads: &[Read]) -> Vec<u8> {
    reads
        .iter()
        .filter_map(|read| match read {
            Read::Body(bytes) => Some(bytes.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn responses_are_read_by_their_framing() {
    let mut chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    chunked.extend_from_slice(CHUNKED);
    let length =
        b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 5\r\nretry-after: 1\r\n\r\nhello";
    let close = b"HTTP/1.1 200 OK\r\n\r\nuntil the end";
    let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    for size in [1, 3, 7, 1024] {
        let reads = read(&chunked, size).unwrap();
        assert!(matches!(&reads[0], Read::Head(status, _) if *status == 200));
        assert_eq!(body_of(&reads), b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(reads.last(), Some(&Read::End));

        let reads = read(length, size).unwrap();
        let Read::Head(status, headers) = &reads[0] else {
            panic!("a head first");
        };
        assert_eq!(
            (status.as_u16(), &headers["retry-after"]),
            (429, &"1".parse::<http::HeaderValue>().unwrap())
        );
        assert_eq!(body_of(&reads), b"hello");

        assert_eq!(body_of(&read(close, size).unwrap()), b"until the end");

        let reads = read(interim, size).unwrap();
        assert!(matches!(&reads[0], Read::Head(status, _) if *status == 204));
        assert_eq!(reads.last(), Some(&Read::End));
    }
    // Cut short: an error, never a shorter body.
    assert!(
        read(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc", 4)
            .unwrap_err()
            .contains("6 bytes")
    );
    assert!(
        read(b"HTTP/1.1 20", 4)
            .unwrap_err()
            .contains("before a response head")
    );
    assert!(
        read(b"HTTP/1.1 200 OK\r\ncontent-length: many\r\n\r\n", 64)
            .unwrap_err()
            .contains("content-length")
    );
    let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
    huge.resize(MAX_HEAD + 10, b'x');
    assert!(read(&huge, 4096).unwrap_err().contains("exceeds"));
}

#[test]
fn requests_are_encoded_with_their_host_length_and_close() {
    let request = http::Request::post("http://127.0.0.1:8080/v1/chat/completions")
        .header("authorization", "Bearer k")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    let text = String::from_utf8(encode_request(&request)).unwrap();
    assert!(
        text.starts_with("POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n"),
        "{text}"
    );
    assert!(text.contains("authorization: Bearer k\r\n"), "{text}");
    assert!(
        text.ends_with("content-length: 2\r\nconnection: close\r\n\r\n{}"),
        "{text}"
    );
}

fn call() -> Call {
    let config = ClientConfig::builder()
        .base_url("http://127.0.0.1:1/v1")
        .build()
        .unwrap();
    let request = crate::ChatRequest::new("m").user("hi").stream(true);
    let start = Start {
        now: Duration::ZERO,
        wall_clock: SystemTime::UNIX_EPOCH,
        seed: 1,
    };
    Call::chat(&config, &request, CallOptions::default(), start).unwrap()
}

#[test]
fn a_broken_response_is_the_calls_connection_failure() {
    // Before the head: it may have reached the server, and is retried.
    let mut retried = call();
    let _ = retried.poll_transmit();
    let mut reader = ResponseReader::new();
    reader.push(b"HTTP/1.1 2xx what\r\n\r\n");
    reader.deliver(&mut retried);
    let Some(Event::Retrying { error, .. }) = retried.poll_event() else {
        panic!("retried");
    };
    assert!(error.to_string().contains("does not parse"), "{error}");
    // In a streamed body: the stream is truncated.
    let mut broken = call();
    let _ = broken.poll_transmit();
    let mut reader = ResponseReader::new();
    reader.push(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n5\r\ndata:");
    reader.eof();
    reader.deliver(&mut broken);
    let mut failed = None;
    while let Some(event) = broken.poll_event() {
        if let Event::Failed(error) = event {
            failed = Some(error);
        }
    }
    let failed = failed.expect("the call failed");
    assert!(failed.is_truncated(), "{failed}");
    assert!(reader.is_over());
}
