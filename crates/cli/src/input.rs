//! What the command reads: the prompt, images, and extra JSON.

use std::io::Read;
use std::path::Path;

use base64::Engine;
use gptproto::{Content, ContentPart};

use crate::exit::Failure;

/// The largest image file sent (the API's own limit is lower for most models).
const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;

/// The prompt: the argument, or standard input when it is absent or `-`.
pub(crate) fn prompt(argument: Option<String>) -> Result<String, Failure> {
    let text = match argument.as_deref() {
        Some("-") | None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|error| {
                    Failure::Usage(format!("cannot read the prompt from stdin: {error}"))
                })?;
            text
        }
        Some(text) => text.to_owned(),
    };
    if text.trim().is_empty() {
        return Err(Failure::Usage("the prompt is empty".to_owned()));
    }
    Ok(text)
}

/// The user message's content: the text alone, or the text and the images.
pub(crate) fn user_content(text: &str, images: &[String]) -> Result<Content, Failure> {
    if images.is_empty() {
        return Ok(Content::Text(text.to_owned()));
    }
    let mut parts = vec![ContentPart::text(text)];
    for image in images {
        parts.push(ContentPart::image_url(image_url(image)?));
    }
    Ok(Content::Parts(parts))
}

/// A URL as given, or a file as a `data:` URL.
fn image_url(image: &str) -> Result<String, Failure> {
    if ["http://", "https://", "data:"]
        .iter()
        .any(|scheme| image.starts_with(scheme))
    {
        return Ok(image.to_owned());
    }
    let path = Path::new(image);
    let mime = match path
        .extension()
        .and_then(|ext| ext.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => {
            return Err(Failure::Usage(format!(
                "--image {image}: not a URL, and not a .png, .jpg, .jpeg, .gif or .webp file"
            )));
        }
    };
    let metadata = std::fs::metadata(path)
        .map_err(|error| Failure::Usage(format!("--image {image}: {error}")))?;
    if metadata.len() > MAX_IMAGE_BYTES {
        return Err(Failure::Usage(format!(
            "--image {image}: {} bytes, more than the {MAX_IMAGE_BYTES} allowed",
            metadata.len()
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|error| Failure::Usage(format!("--image {image}: {error}")))?;
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// `--extra`: a JSON object.
pub(crate) fn extra(json: Option<&str>) -> Result<Option<serde_json::Value>, Failure> {
    let Some(json) = json else {
        return Ok(None);
    };
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|error| Failure::Usage(format!("--extra is not JSON: {error}")))?;
    if !value.is_object() {
        return Err(Failure::Usage("--extra must be a JSON object".to_owned()));
    }
    Ok(Some(value))
}
