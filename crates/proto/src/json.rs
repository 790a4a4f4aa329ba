//! A small pull reader for JSON text, used by the chunk decoder's fast path.
//!
//! Why not serde_json here: a streamed answer is a hundred thousand small objects of one known
//! shape, and what a user reads of each is a few short strings. This reader borrows every
//! unescaped string straight from the event's buffer (the decoder turns it into a shared
//! [`Text`](crate::Text) slice), matches keys as bytes, and skips what nobody reads while still
//! validating it. It accepts exactly RFC 8259 JSON; the chunk decoder's tests and the fuzz target
//! check it against serde_json.

use std::borrow::Cow;
use std::fmt;

/// Where and why the text is not the JSON that was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub(crate) offset: usize,
    pub(crate) reason: Cow<'static, str>,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

pub(crate) type JsonResult<T> = Result<T, JsonError>;

/// A string value as it appears in the input, without its quotes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawStr<'a> {
    /// The bytes between the quotes, escapes undecoded.
    pub(crate) raw: &'a str,
    /// Whether `raw` contains a backslash escape.
    pub(crate) escaped: bool,
}

impl RawStr<'_> {
    /// The decoded string. Only call when `escaped`; the input was validated by the reader.
    pub(crate) fn unescape(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        let bytes = self.raw.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'\\' {
                i += 1;
                continue;
            }
            out.push_str(&self.raw[start..i]);
            let escape = bytes[i + 1];
            i += 2;
            match escape {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                _ => {
                    let unit = hex4(&bytes[i..i + 4]).unwrap_or(0xFFFD);
                    i += 4;
                    let c = if (0xD800..0xDC00).contains(&unit) {
                        let low = hex4(&bytes[i + 2..i + 6]).unwrap_or(0xFFFD);
                        i += 6;
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        unit
                    };
                    out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                }
            }
            start = i;
        }
        out.push_str(&self.raw[start..]);
        out
    }
}

fn hex4(digits: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for &d in digits {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        value = value * 16 + u32::from(nibble);
    }
    Some(value)
}

/// What kind of value comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peek {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

/// Reads one JSON document from a `&str`, value by value.
pub(crate) struct JsonReader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> JsonReader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    pub(crate) fn error<T>(&self, reason: impl Into<Cow<'static, str>>) -> JsonResult<T> {
        Err(JsonError {
            offset: self.pos,
            reason: reason.into(),
        })
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.pos += 1;
        }
    }

    /// Checks that nothing but whitespace follows the document.
    pub(crate) fn end(&mut self) -> JsonResult<()> {
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return self.error("trailing characters");
        }
        Ok(())
    }

    /// The kind of the next value.
    #[inline]
    pub(crate) fn peek(&mut self) -> JsonResult<Peek> {
        self.skip_ws();
        Ok(match self.bytes.get(self.pos) {
            Some(b'n') => Peek::Null,
            Some(b't' | b'f') => Peek::Bool,
            Some(b'-' | b'0'..=b'9') => Peek::Number,
            Some(b'"') => Peek::String,
            Some(b'[') => Peek::Array,
            Some(b'{') => Peek::Object,
            Some(_) => return self.error("expected a value"),
            None => return self.error("unexpected end of input"),
        })
    }

    /// Consumes `null` if it comes next.
    #[inline]
    pub(crate) fn eat_null(&mut self) -> JsonResult<bool> {
        if self.peek()? != Peek::Null {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    fn literal(&mut self, word: &'static [u8]) -> JsonResult<()> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.error("invalid literal")
        }
    }

    pub(crate) fn bool(&mut self) -> JsonResult<bool> {
        match self.peek()? {
            Peek::Bool if self.bytes[self.pos] == b't' => self.literal(b"true").map(|()| true),
            Peek::Bool => self.literal(b"false").map(|()| false),
            _ => self.error("expected a boolean"),
        }
    }

    /// A non-negative integer that fits `u64` (what serde_json accepts for an unsigned field).
    pub(crate) fn u64(&mut self) -> JsonResult<u64> {
        if self.peek()? != Peek::Number {
            return self.error("expected an unsigned integer");
        }
        let start = self.pos;
        let raw = self.number()?;
        let digits = raw.as_bytes();
        if digits[0] == b'-' || !digits.iter().all(u8::is_ascii_digit) {
            self.pos = start;
            return self.error("expected an unsigned integer");
        }
        let mut value = 0u64;
        for &d in digits {
            value = match value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
            {
                Some(v) => v,
                None => {
                    self.pos = start;
                    return self.error("integer out of range");
                }
            };
        }
        Ok(value)
    }

    pub(crate) fn u32(&mut self) -> JsonResult<u32> {
        let start = self.pos;
        let value = self.u64()?;
        u32::try_from(value).or_else(|_| {
            self.pos = start;
            self.error("integer out of range")
        })
    }

    /// Scans a number per the JSON grammar and returns its text.
    fn number(&mut self) -> JsonResult<&'a str> {
        let start = self.pos;
        let b = self.bytes;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => {
                self.pos = i;
                return self.error("invalid number");
            }
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                self.pos = i;
                return self.error("invalid number");
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                self.pos = i;
                return self.error("invalid number");
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    /// A string value.
    #[inline]
    pub(crate) fn string(&mut self) -> JsonResult<RawStr<'a>> {
        if self.peek()? != Peek::String {
            return self.error("expected a string");
        }
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos += find_string_special(&self.bytes[self.pos..]);
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    let raw = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(RawStr { raw, escaped });
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(_) => return self.error("control character in string"),
                None => return self.error("unterminated string"),
            }
        }
    }

    /// Validates one escape sequence at `pos` (a backslash) and steps over it.
    fn escape(&mut self) -> JsonResult<()> {
        self.pos += 1;
        match self.bytes.get(self.pos) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                let unit = self.hex_escape()?;
                if (0xDC00..0xE000).contains(&unit) {
                    return self.error("lone trailing surrogate in string");
                }
                if (0xD800..0xDC00).contains(&unit) {
                    if !self.bytes[self.pos..].starts_with(b"\\u") {
                        return self.error("lone leading surrogate in string");
                    }
                    self.pos += 1;
                    let low = self.hex_escape()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return self.error("lone leading surrogate in string");
                    }
                }
                Ok(())
            }
            Some(_) => self.error("invalid escape"),
            None => self.error("unterminated string"),
        }
    }

    /// Reads `uXXXX` at `pos`.
    fn hex_escape(&mut self) -> JsonResult<u32> {
        let digits = self.bytes.get(self.pos + 1..self.pos + 5);
        match digits.and_then(hex4) {
            Some(unit) => {
                self.pos += 5;
                Ok(unit)
            }
            None => self.error("invalid \\u escape"),
        }
    }

    /// Calls `field` with each key of an object; `field` must consume the value.
    #[inline]
    pub(crate) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, RawStr<'a>) -> JsonResult<()>,
    ) -> JsonResult<()> {
        if self.peek()? != Peek::Object {
            return self.error("expected an object");
        }
        self.pos += 1;
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return self.error("expected ':'");
            }
            self.pos += 1;
            field(self, key)?;
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.error("expected ',' or '}'"),
            }
        }
    }

    /// Calls `item` for each element of an array; `item` must consume the element.
    #[inline]
    pub(crate) fn array(
        &mut self,
        mut item: impl FnMut(&mut Self) -> JsonResult<()>,
    ) -> JsonResult<()> {
        if self.peek()? != Peek::Array {
            return self.error("expected an array");
        }
        self.pos += 1;
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.error("expected ',' or ']'"),
            }
        }
    }

    /// Validates and steps over any value, returning its text. Iterative, so deep nesting
    /// cannot overflow the stack.
    pub(crate) fn skip_value(&mut self) -> JsonResult<&'a str> {
        self.skip_ws();
        let start = self.pos;
        // The open containers, innermost last: true for an object, false for an array.
        let mut stack: Vec<bool> = Vec::new();
        loop {
            // A value.
            match self.peek()? {
                Peek::Null => self.literal(b"null")?,
                Peek::Bool => {
                    self.bool()?;
                }
                Peek::Number => {
                    self.number()?;
                }
                Peek::String => {
                    self.string()?;
                }
                Peek::Array => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.bytes.get(self.pos) == Some(&b']') {
                        self.pos += 1;
                    } else {
                        stack.push(false);
                        continue;
                    }
                }
                Peek::Object => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.bytes.get(self.pos) == Some(&b'}') {
                        self.pos += 1;
                    } else {
                        stack.push(true);
                        self.object_key()?;
                        continue;
                    }
                }
            }
            // After a value: close containers or move to the next element.
            loop {
                let Some(&in_object) = stack.last() else {
                    return Ok(&self.text[start..self.pos]);
                };
                self.skip_ws();
                match (self.bytes.get(self.pos), in_object) {
                    (Some(b','), false) => {
                        self.pos += 1;
                        break;
                    }
                    (Some(b','), true) => {
                        self.pos += 1;
                        self.skip_ws();
                        self.object_key()?;
                        break;
                    }
                    (Some(b']'), false) | (Some(b'}'), true) => {
                        self.pos += 1;
                        stack.pop();
                    }
                    (_, false) => return self.error("expected ',' or ']'"),
                    (_, true) => return self.error("expected ',' or '}'"),
                }
            }
        }
    }

    /// A key and its colon, inside an object.
    fn object_key(&mut self) -> JsonResult<()> {
        self.string()?;
        self.skip_ws();
        if self.bytes.get(self.pos) != Some(&b':') {
            return self.error("expected ':'");
        }
        self.pos += 1;
        Ok(())
    }
}

/// The index of the first `"`, `\` or control character (< 0x20) in `bytes`, or its length.
///
/// Eight bytes at a time: strings in chunks are mostly short ASCII runs, where this beats both
/// a byte loop and a SIMD search's set-up cost.
#[inline]
fn find_string_special(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let found = found & HIGHS;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() {
        if matches!(bytes[i], b'"' | b'\\' | 0..=0x1f) {
            return i;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(text: &str) -> JsonResult<&str> {
        let mut reader = JsonReader::new(text);
        let raw = reader.skip_value()?;
        reader.end()?;
        Ok(raw)
    }

    #[test]
    fn skip_value_agrees_with_serde_json_on_validity() {
        let cases = [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1.5e10",
            "-1E-2",
            "\"a\\u00e9\\ud83d\\ude00\"",
            "[]",
            "{}",
            "[1,[2,{\"a\":[]}],\"x\"]",
            " {\"a\" : {\"b\":null} } ",
            "01",
            "1.",
            "-",
            "1e",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\"}",
            "[",
            "{",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\x\"",
            "\"a\u{1}\"",
            "nul",
            "tru",
            "[1 2]",
            "{1:2}",
            "\"",
            "[[[[[]]]]]",
            "{\"a\":[{\"b\":[{}]}]}",
            "1 2",
        ];
        for case in cases {
            let ours = skip(case).is_ok();
            let serde = serde_json::from_str::<serde_json::Value>(case).is_ok();
            assert_eq!(ours, serde, "{case:?}");
        }
    }

    #[test]
    fn unescape_matches_serde_json() {
        for case in [
            r#""plain""#,
            r#""a\nb\t\"q\"\\ \/ \b\f\r""#,
            r#""\u00e9\u4e2d\ud83d\ude00 end""#,
            r#""\u0000""#,
        ] {
            let mut reader = JsonReader::new(case);
            let raw = reader.string().unwrap();
            let ours = if raw.escaped {
                raw.unescape()
            } else {
                raw.raw.to_owned()
            };
            assert_eq!(
                ours,
                serde_json::from_str::<String>(case).unwrap(),
                "{case}"
            );
        }
    }

    #[test]
    fn finds_specials_in_every_position() {
        for len in 0..20 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special;
                    assert_eq!(find_string_special(&bytes), at);
                }
            }
            assert_eq!(find_string_special(&vec![0x7f; len]), len);
            assert_eq!(find_string_special(&"é".repeat(len).into_bytes()), 2 * len);
        }
    }

    #[test]
    fn integers() {
        assert_eq!(JsonReader::new("18446744073709551615").u64(), Ok(u64::MAX));
        assert!(JsonReader::new("18446744073709551616").u64().is_err());
        assert!(JsonReader::new("-1").u64().is_err());
        assert!(JsonReader::new("1.0").u64().is_err());
        assert!(JsonReader::new("4294967296").u32().is_err());
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = "[".repeat(1_000_000) + &"]".repeat(1_000_000);
        assert!(skip(&deep).is_ok());
        assert!(skip(&"[".repeat(1_000_000)).is_err());
    }
}
