//! Message content: a plain string or a list of typed parts (text, image, audio, file).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::extra::Extra;
use super::open_enum::open_enum;

/// The content of a message: a string, or parts for multimodal input.
///
/// ```
/// use gptproto_proto::wire::{Content, ContentPart, ImageDetail};
///
/// let content = Content::from(vec![
///     ContentPart::text("What is in this picture?"),
///     ContentPart::image_url("https://example.com/cat.png").with_detail(ImageDetail::Low),
/// ]);
/// let json = serde_json::to_value(&content)?;
/// assert_eq!(json[1]["image_url"]["detail"], "low");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// A list of parts.
    Parts(Vec<ContentPart>),
}

/// By the JSON type seen, without buffering the value (as `#[serde(untagged)]` would).
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> serde::de::Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Content, E> {
                Ok(Content::Text(text.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Content, E> {
                Ok(Content::Text(text))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                parts: A,
            ) -> Result<Content, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(parts))
                    .map(Content::Parts)
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}

impl Content {
    /// The text: the string, or the `text` parts joined (other parts skipped). `None` when
    /// there is no text part.
    pub fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Text(text) => Some(text.as_str().into()),
            Self::Parts(parts) => {
                let mut texts = parts.iter().filter_map(|part| match part {
                    ContentPart::Text(part) => Some(part.text.as_str()),
                    _ => None,
                });
                let first = texts.next()?;
                match texts.next() {
                    None => Some(first.into()),
                    Some(second) => {
                        let mut joined = format!("{first}{second}");
                        texts.for_each(|text| joined.push_str(text));
                        Some(joined.into())
                    }
                }
            }
        }
    }

    /// Whether the content is an empty string or has no parts.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Text(text) => text.is_empty(),
            Self::Parts(parts) => parts.is_empty(),
        }
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<Vec<ContentPart>> for Content {
    fn from(parts: Vec<ContentPart>) -> Self {
        Self::Parts(parts)
    }
}

/// One part of a multimodal message, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentPart {
    /// `{"type":"text","text":..}`
    Text(TextPart),
    /// `{"type":"image_url","image_url":{"url":..,"detail":..}}`
    ImageUrl(ImagePart),
    /// `{"type":"input_audio","input_audio":{"data":..,"format":..}}`
    InputAudio(AudioPart),
    /// `{"type":"file","file":{..}}`
    File(FilePart),
    /// `{"type":"refusal","refusal":..}` (assistant content)
    Refusal(RefusalPart),
    /// A part type this version does not know, kept whole (its `type` included).
    #[serde(untagged)]
    Other(Map<String, Value>),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextPart {
            text: text.into(),
            extra: Extra::new(),
        })
    }

    /// An image part: an `https:` URL or a `data:` URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        Self::ImageUrl(ImagePart {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
                extra: Extra::new(),
            },
            extra: Extra::new(),
        })
    }

    /// An audio part: base64 `data` in `format` (`wav`, `mp3`).
    pub fn input_audio(data: impl Into<String>, format: impl Into<AudioFormat>) -> Self {
        Self::InputAudio(AudioPart {
            input_audio: InputAudio {
                data: data.into(),
                format: format.into(),
                extra: Extra::new(),
            },
            extra: Extra::new(),
        })
    }

    /// A file part from a base64 `data:` URL and a file name.
    pub fn file_data(file_data: impl Into<String>, filename: impl Into<String>) -> Self {
        Self::File(FilePart {
            file: FileInput {
                file_data: Some(file_data.into()),
                file_id: None,
                filename: Some(filename.into()),
                extra: Extra::new(),
            },
            extra: Extra::new(),
        })
    }

    /// A file part referring to an uploaded file.
    pub fn file_id(file_id: impl Into<String>) -> Self {
        Self::File(FilePart {
            file: FileInput {
                file_data: None,
                file_id: Some(file_id.into()),
                filename: None,
                extra: Extra::new(),
            },
            extra: Extra::new(),
        })
    }

    /// Sets the detail of an image part; other parts are returned unchanged.
    #[must_use]
    pub fn with_detail(mut self, detail: ImageDetail) -> Self {
        if let Self::ImageUrl(part) = &mut self {
            part.image_url.detail = Some(detail);
        }
        self
    }

    /// The part's `type` as it appears on the wire.
    pub fn kind(&self) -> &str {
        match self {
            Self::Text(_) => "text",
            Self::ImageUrl(_) => "image_url",
            Self::InputAudio(_) => "input_audio",
            Self::File(_) => "file",
            Self::Refusal(_) => "refusal",
            Self::Other(map) => map.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

/// The body of a text part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TextPart {
    /// The text.
    pub text: String,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// The body of an image part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ImagePart {
    /// Where the image is.
    pub image_url: ImageUrl,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// An image reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ImageUrl {
    /// An `https:` URL or a `data:image/...;base64,...` URL.
    pub url: String,
    /// How closely the model looks at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ImageDetail>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

open_enum! {
    /// Image detail level.
    pub enum ImageDetail {
        /// Let the model choose.
        Auto = "auto",
        /// Low resolution, fewer tokens.
        Low = "low",
        /// High resolution.
        High = "high",
    }
}

/// The body of an audio part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct AudioPart {
    /// The audio.
    pub input_audio: InputAudio,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Base64 audio and its format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct InputAudio {
    /// Base64-encoded audio.
    pub data: String,
    /// The encoding.
    pub format: AudioFormat,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

open_enum! {
    /// Audio encoding of an `input_audio` part.
    pub enum AudioFormat {
        /// WAV.
        Wav = "wav",
        /// MP3.
        Mp3 = "mp3",
    }
}

/// The body of a file part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FilePart {
    /// The file.
    pub file: FileInput,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// A file given inline or by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FileInput {
    /// Base64 `data:` URL of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// The id of an uploaded file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// The file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// The body of a refusal part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RefusalPart {
    /// The refusal text.
    pub refusal: String,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parts_round_trip_with_unknown_fields_and_types() {
        let json = json!([
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "ultra"}},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            {"type": "file", "file": {"file_id": "file-1"}},
            {"type": "video_url", "video_url": {"url": "https://v"}}
        ]);
        let content: Content = serde_json::from_value(json.clone()).unwrap();
        let Content::Parts(parts) = &content else {
            panic!("parts")
        };
        assert!(
            matches!(&parts[0], ContentPart::Text(p) if p.extra["cache_control"]["type"] == "ephemeral")
        );
        assert!(
            matches!(&parts[1], ContentPart::ImageUrl(p) if p.image_url.detail == Some(ImageDetail::Other("ultra".into())))
        );
        assert_eq!(parts[4].kind(), "video_url");
        assert_eq!(serde_json::to_value(&content).unwrap(), json);
    }

    #[test]
    fn text_joins_text_parts() {
        let content = Content::from(vec![
            ContentPart::text("a"),
            ContentPart::image_url("https://x"),
            ContentPart::text("b"),
        ]);
        assert_eq!(content.text().unwrap(), "ab");
        assert_eq!(Content::from("x").text().unwrap(), "x");
        assert!(Content::Parts(vec![]).text().is_none());
    }
}
