//! What the command reads: the prompt, images, and extra JSON.

use std::io::Read;
use std::path::Path;

use base64::Engine;
use gptproto::proto::wire::JsonSchemaFormat;
use gptproto::{Content, ContentPart, ResponseFormat};

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
    let bytes = read_file(path, MAX_IMAGE_BYTES, &format!("--image {image}"))?;
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

/// The largest schema file read.
const MAX_SCHEMA_BYTES: u64 = 1024 * 1024;

/// `--response-format json_schema=FILE`: the file holds a JSON Schema (named after the file,
/// sent without `strict`), or OpenAI's `json_schema` object (`name`, `schema`, `strict`, ...).
pub(crate) fn json_schema_format(file: &Path) -> Result<ResponseFormat, Failure> {
    let option = format!("--response-format json_schema={}", file.display());
    let usage = |why: String| Failure::Usage(format!("{option}: {why}"));
    let bytes = read_file(file, MAX_SCHEMA_BYTES, &option)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|error| usage(format!("not JSON: {error}")))?;
    if !value.is_object() {
        return Err(usage("not a JSON object".to_owned()));
    }
    let format = if value
        .get("schema")
        .is_some_and(serde_json::Value::is_object)
        && value.get("name").is_some_and(serde_json::Value::is_string)
    {
        serde_json::from_value::<JsonSchemaFormat>(value)
            .map_err(|error| usage(error.to_string()))?
    } else {
        let name: String = file
            .file_stem()
            .map(|stem| stem.to_string_lossy())
            .unwrap_or_default()
            .trim_end_matches(".schema")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        JsonSchemaFormat::new(
            if name.is_empty() {
                "answer".to_owned()
            } else {
                name
            },
            value,
        )
    };
    Ok(ResponseFormat::JsonSchema {
        json_schema: format,
    })
}

/// The bytes of the file `path`, at most `limit` of them (a larger file is refused, read only
/// as far as the limit); errors name `option`, the argument that gave the file.
fn read_file(path: &Path, limit: u64, option: &str) -> Result<Vec<u8>, Failure> {
    let usage = |why: String| Failure::Usage(format!("{option}: {why}"));
    let file = std::fs::File::open(path).map_err(|error| usage(error.to_string()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| usage(error.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(usage(format!("more than the {limit} bytes allowed")));
    }
    Ok(bytes)
}
