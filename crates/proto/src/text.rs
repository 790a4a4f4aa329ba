//! [`Text`]: UTF-8 text that shares a [`Bytes`] buffer instead of owning a copy.
//!
//! The SSE decoder and the chunk decoder hand out slices of the bytes they were given; a `Text`
//! is such a slice with the promise that it is valid UTF-8. Cloning is a reference-count bump.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::Utf8Error;

use bytes::Bytes;

/// Immutable UTF-8 text backed by [`Bytes`]: cheap to clone and to slice.
///
/// It dereferences to `&str`, compares with `str` and `String`, and (de)serializes as a string.
///
/// ```
/// use gptproto_proto::Text;
///
/// let text = Text::from("who are you?");
/// assert_eq!(text, "who are you?");
/// assert_eq!(text.len(), 12);
/// assert!(text.starts_with("who"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(Bytes);

/// A string.
#[cfg(feature = "schemars")]
#[cfg_attr(docsrs, doc(cfg(feature = "schemars")))]
impl schemars::JsonSchema for Text {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "String".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string"})
    }
}

impl Text {
    /// The empty text; does not allocate.
    pub const fn new() -> Self {
        Self(Bytes::new())
    }

    /// Text from a static string; does not allocate.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// Checks that `bytes` is UTF-8 and wraps it without copying.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }

    /// Wraps `bytes` without checking them.
    ///
    /// # Safety
    /// `bytes` must be valid UTF-8.
    pub(crate) unsafe fn from_utf8_unchecked(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// The text as a string slice.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checks or requires UTF-8, and the bytes are immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying shared bytes.
    pub fn as_bytes_shared(&self) -> &Bytes {
        &self.0
    }

    /// Converts into the underlying shared bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The sub-text at `range`, sharing the same buffer.
    ///
    /// # Panics
    /// When `range` is out of bounds or does not fall on character boundaries.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        assert!(
            self.as_str().is_char_boundary(range.start)
                && self.as_str().is_char_boundary(range.end),
            "Text::slice: {range:?} is not on character boundaries"
        );
        Self(self.0.slice(range))
    }

    /// The sub-text that `part` (a slice of this text's string) covers, sharing the buffer.
    ///
    /// # Panics
    /// When `part` is not a sub-slice of `self.as_str()`.
    pub fn slice_ref(&self, part: &str) -> Self {
        Self(self.0.slice_ref(part.as_bytes()))
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Box<str>> for Text {
    fn from(text: Box<str>) -> Self {
        Self(Bytes::from(text.into_boxed_bytes()))
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.as_str().to_owned()
    }
}

impl TryFrom<Bytes> for Text {
    type Error = Utf8Error;
    fn try_from(bytes: Bytes) -> Result<Self, Utf8Error> {
        Self::try_from_bytes(bytes)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::from(v))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text::from(v))
            }
        }
        deserializer.deserialize_string(Visitor)
    }
}

/// How much of an undecodable body or event an error quotes.
pub(crate) const DATA_PREFIX_LEN: usize = 256;

/// At most `DATA_PREFIX_LEN` bytes of `text`, cut on a character boundary.
pub(crate) fn prefix(text: &str) -> String {
    let mut end = text.len().min(DATA_PREFIX_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut quoted = text[..end].to_owned();
    if end < text.len() {
        quoted.push('…');
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_cuts_on_a_character_boundary() {
        let text = "é".repeat(200);
        let quoted = prefix(&text);
        assert!(quoted.ends_with('…'));
        assert_eq!(quoted.chars().filter(|&c| c == 'é').count(), 128);
        assert_eq!(prefix("short"), "short");
    }

    #[test]
    fn slices_share_the_buffer() {
        let text = Text::from(String::from("data: héllo"));
        let part = text.slice(6..12);
        assert_eq!(part, "héllo");
        assert_eq!(
            part.as_bytes_shared().as_ptr(),
            text.as_bytes_shared()[6..].as_ptr()
        );
        assert_eq!(text.slice_ref(&text[6..]), "héllo");
    }

    #[test]
    #[should_panic(expected = "character boundaries")]
    fn slicing_inside_a_character_panics() {
        let _ = Text::from("é").slice(0..1);
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert!(Text::try_from_bytes(Bytes::from_static(b"\xff")).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let text: Text = serde_json::from_str("\"a\\nb\"").unwrap();
        assert_eq!(text, "a\nb");
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"a\\nb\"");
    }
}
