//! [`SseEvent`]: one dispatched Server-Sent Event.

use crate::Text;

/// One event dispatched by [`SseDecoder`](super::SseDecoder).
///
/// The text fields share the input's buffers; cloning an event copies no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub(super) event_type: Option<Text>,
    pub(super) data: Text,
    pub(super) last_event_id: Text,
    pub(super) retry: Option<u64>,
}

impl SseEvent {
    /// An event of the default type (`message`) with the given data and no id.
    pub fn message(data: impl Into<Text>) -> Self {
        Self {
            event_type: None,
            data: data.into(),
            last_event_id: Text::new(),
            retry: None,
        }
    }

    /// The event type: the last `event:` field of the block, or `"message"` when there was
    /// none or it was empty.
    pub fn event_type(&self) -> &str {
        self.event_type.as_deref().unwrap_or("message")
    }

    /// Whether the event has the default type `message`.
    pub fn is_message(&self) -> bool {
        self.event_type() == "message"
    }

    /// The data: every `data:` line of the block joined with `\n`.
    pub fn data(&self) -> &Text {
        &self.data
    }

    /// Takes the data out of the event.
    pub fn into_data(self) -> Text {
        self.data
    }

    /// The stream's last event id when this event was dispatched (`""` when none was set).
    ///
    /// Ids persist across events, as the WHATWG algorithm requires: an event without an `id:`
    /// line carries the id of the last block that set one.
    pub fn last_event_id(&self) -> &Text {
        &self.last_event_id
    }

    /// The reconnection time (milliseconds) that a valid `retry:` field in this event's block
    /// set, if any.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }
}
