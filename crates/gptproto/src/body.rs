//! Reading a whole (non-streamed) body, bounded in size and in time.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gptproto_transport::ResponseBody;
use http_body_util::BodyExt;

use crate::deadline::{Deadline, reported, step_wait};
use crate::error::{Error, Result, TimeoutKind};
use crate::rt;

/// Reads a whole body, at most `limit` bytes, waiting at most `idle` between reads and ending
/// by `deadline`.
pub(crate) async fn read_body(
    mut body: ResponseBody,
    limit: usize,
    idle: Option<Duration>,
    deadline: Option<Deadline>,
) -> Result<Bytes> {
    // A body that arrives in one frame (most JSON answers) is returned as that frame: no copy.
    let mut first: Option<Bytes> = None;
    let mut collected = BytesMut::new();
    loop {
        let frame = match step_wait(idle, TimeoutKind::Idle, deadline) {
            Some((wait, kind)) => rt::timeout(wait, body.frame())
                .await
                .map_err(|_| Error::timeout(kind, reported(kind, wait, deadline)))?,
            None => body.frame().await,
        };
        match frame {
            None => {
                return Ok(match first {
                    Some(only) if collected.is_empty() => only,
                    _ => collected.freeze(),
                });
            }
            Some(Err(error)) => return Err(Error::interrupted(error, 0, None)),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let received = first.as_ref().map_or(0, Bytes::len) + collected.len();
                if received + data.len() > limit {
                    return Err(Error::body_too_large(limit));
                }
                if received == 0 && first.is_none() {
                    first = Some(data);
                } else {
                    if let Some(earlier) = first.take() {
                        collected.extend_from_slice(&earlier);
                    }
                    collected.extend_from_slice(&data);
                }
            }
        }
    }
}
