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

/// A failed read. The details stay in the reader ([`JsonReader::take_error`]), so that results
/// on the hot path stay as small as the values they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fail;

pub(crate) type JsonResult<T> = Result<T, Fail>;

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
    bytes: &'a [u8],
    pos: usize,
    error: Option<JsonError>,
}

impl<'a> JsonReader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            pos: 0,
            error: None,
        }
    }

    /// Records why reading failed, at the current position.
    #[cold]
    pub(crate) fn error<T>(&mut self, reason: impl Into<Cow<'static, str>>) -> JsonResult<T> {
        if self.error.is_none() {
            self.error = Some(JsonError {
                offset: self.pos,
                reason: reason.into(),
            });
        }
        Err(Fail)
    }

    /// Why the last read failed.
    pub(crate) fn take_error(&mut self) -> JsonError {
        self.error.take().unwrap_or(JsonError {
            offset: self.pos,
            reason: Cow::Borrowed("invalid JSON"),
        })
    }

    /// The text between two byte offsets that the reader found on ASCII delimiters.
    #[inline(always)]
    fn slice(&self, start: usize, end: usize) -> &'a str {
        let bytes = &self.bytes[start..end];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `start` and `end` sit next to ASCII bytes (quotes, delimiters, digits) of a
        // `str`, so they are character boundaries and the bytes between are UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Steps over whitespace; servers rarely send any, so the first test usually ends it.
    #[inline(always)]
    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b > b' ' || !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return;
            }
            self.pos += 1;
        }
    }

    /// The next byte after whitespace.
    #[inline(always)]
    fn next_byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        if byte > b' ' {
            return Some(byte);
        }
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    /// Checks that nothing but whitespace follows the document.
    pub(crate) fn end(&mut self) -> JsonResult<()> {
        if self.next_byte().is_some() {
            return self.error("trailing characters");
        }
        Ok(())
    }

    /// The kind of the next value.
    #[inline]
    pub(crate) fn peek(&mut self) -> JsonResult<Peek> {
        Ok(match self.next_byte() {
            Some(b'"') => Peek::String,
            Some(b'n') => Peek::Null,
            Some(b'{') => Peek::Object,
            Some(b'[') => Peek::Array,
            Some(b'-' | b'0'..=b'9') => Peek::Number,
            Some(b't' | b'f') => Peek::Bool,
            Some(_) => return self.error("expected a value"),
            None => return self.error("unexpected end of input"),
        })
    }

    /// Consumes `null` if it comes next.
    #[inline(always)]
    pub(crate) fn eat_null(&mut self) -> JsonResult<bool> {
        if self.next_byte() != Some(b'n') {
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
        match self.next_byte() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            _ => self.error("expected a boolean"),
        }
    }

    /// A non-negative integer that fits `u64` (what serde_json accepts for an unsigned field:
    /// no sign, fraction or exponent).
    #[inline]
    pub(crate) fn u64(&mut self) -> JsonResult<u64> {
        if !matches!(self.next_byte(), Some(b'0'..=b'9')) {
            return self.error("expected an unsigned integer");
        }
        let digits = &self.bytes[self.pos..];
        let mut value: u64 = 0;
        let mut count = 0;
        // Eight digits at a time while they last (timestamps have ten).
        while let Some(eight) = digits.get(count..count + 8)
            && let Some(parsed) = eight_digits(eight)
            && count < 16
        {
            value = value.wrapping_mul(100_000_000).wrapping_add(parsed);
            count += 8;
        }
        while let Some(&byte) = digits.get(count) {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            // Wrapping is harmless up to nineteen digits; more are checked below.
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
            count += 1;
        }
        if count > 19 {
            value = 0;
            for &digit in &digits[..count] {
                value = match value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                {
                    Some(value) => value,
                    None => return self.error("integer out of range"),
                };
            }
        }
        if digits[0] == b'0' && count > 1 {
            return self.error("invalid number");
        }
        if matches!(digits.get(count), Some(b'.' | b'e' | b'E')) {
            return self.error("expected an unsigned integer");
        }
        self.pos += count;
        Ok(value)
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> JsonResult<u32> {
        let start = self.pos;
        let value = self.u64()?;
        match u32::try_from(value) {
            Ok(value) => Ok(value),
            Err(_) => {
                self.pos = start;
                self.error("integer out of range")
            }
        }
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
        Ok(self.slice(start, i))
    }

    /// A string value.
    #[inline(always)]
    pub(crate) fn string(&mut self) -> JsonResult<RawStr<'a>> {
        if self.next_byte() != Some(b'"') {
            return self.error("expected a string");
        }
        self.pos += 1;
        let start = self.pos;
        self.pos += find_string_special(&self.bytes[start..]);
        if self.bytes.get(self.pos) == Some(&b'"') {
            let raw = self.slice(start, self.pos);
            self.pos += 1;
            return Ok(RawStr {
                raw,
                escaped: false,
            });
        }
        self.string_slow(start)
    }

    /// The rest of a string that has escapes (or is invalid), from the first special byte.
    #[inline(never)]
    fn string_slow(&mut self, start: usize) -> JsonResult<RawStr<'a>> {
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    let raw = self.slice(start, self.pos);
                    self.pos += 1;
                    return Ok(RawStr { raw, escaped: true });
                }
                Some(b'\\') => self.escape()?,
                Some(_) => return self.error("control character in string"),
                None => return self.error("unterminated string"),
            }
            self.pos += find_string_special(&self.bytes[self.pos..]);
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

    /// The first byte of the key at the reader's position (just after its opening quote).
    #[inline(always)]
    pub(crate) fn key_first_byte(&self) -> u8 {
        self.bytes.get(self.pos + 1).copied().unwrap_or(0)
    }

    /// Whether the key at the reader's position is `"name"` (its first byte already matched);
    /// if so, consumes it and its colon. A key that only matches once unescaped is not
    /// recognised here (see [`key`](Self::key)).
    #[inline(always)]
    pub(crate) fn key_is(&mut self, name: &str) -> bool {
        let name = name.as_bytes();
        // One range check; the comparisons below are then on a slice of known length.
        let Some(candidate) = self.bytes.get(self.pos + 1..self.pos + name.len() + 3) else {
            return false;
        };
        let (text, rest) = candidate.split_at(name.len());
        if text != name || rest[0] != b'"' {
            return false;
        }
        if rest[1] == b':' {
            self.pos += name.len() + 3;
            return true;
        }
        let saved = self.pos;
        self.pos += name.len() + 2;
        if self.next_byte() == Some(b':') {
            self.pos += 1;
            return true;
        }
        self.pos = saved;
        false
    }

    /// The next key, and its colon.
    #[inline]
    pub(crate) fn key(&mut self) -> JsonResult<RawStr<'a>> {
        let key = self.string()?;
        if self.next_byte() != Some(b':') {
            return self.error("expected ':'");
        }
        self.pos += 1;
        Ok(key)
    }

    /// Whether the next value is the string `"text"` (no escapes); if so, consumes it.
    #[inline(always)]
    pub(crate) fn string_is(&mut self, text: &str) -> bool {
        let text = text.as_bytes();
        if self.next_byte() != Some(b'"') {
            return false;
        }
        let rest = &self.bytes[self.pos + 1..];
        if rest.len() > text.len() && rest[..text.len()] == *text && rest[text.len()] == b'"' {
            self.pos += text.len() + 2;
            return true;
        }
        false
    }

    /// Opens an object: consumes `{`, and returns whether a member follows (the reader is then
    /// at its key) or the object is empty (its `}` consumed).
    #[inline(always)]
    pub(crate) fn begin_object(&mut self) -> JsonResult<bool> {
        if self.next_byte() != Some(b'{') {
            return self.error("expected an object");
        }
        self.pos += 1;
        self.member_follows(b'}')
    }

    /// After a member's value: consumes `,` and returns true (the reader is at the next key),
    /// or consumes `}` and returns false.
    #[inline(always)]
    pub(crate) fn next_member(&mut self) -> JsonResult<bool> {
        match self.next_byte() {
            Some(b',') => {
                self.pos += 1;
                if self.next_byte() != Some(b'"') {
                    return self.error("expected a string");
                }
                Ok(true)
            }
            Some(b'}') => {
                self.pos += 1;
                Ok(false)
            }
            _ => self.error("expected ',' or '}'"),
        }
    }

    #[inline(always)]
    fn member_follows(&mut self, close: u8) -> JsonResult<bool> {
        match self.next_byte() {
            Some(b'"') if close == b'}' => Ok(true),
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            Some(_) if close == b']' => Ok(true),
            _ if close == b'}' => self.error("expected a string"),
            _ => self.error("unexpected end of input"),
        }
    }

    /// Opens an array: consumes `[`, and returns whether an element follows or the array is
    /// empty (its `]` consumed).
    #[inline(always)]
    pub(crate) fn begin_array(&mut self) -> JsonResult<bool> {
        if self.next_byte() != Some(b'[') {
            return self.error("expected an array");
        }
        self.pos += 1;
        self.member_follows(b']')
    }

    /// After an element: consumes `,` and returns true, or consumes `]` and returns false.
    #[inline(always)]
    pub(crate) fn next_element(&mut self) -> JsonResult<bool> {
        match self.next_byte() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b']') => {
                self.pos += 1;
                Ok(false)
            }
            _ => self.error("expected ',' or ']'"),
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
                    if self.next_byte() == Some(b']') {
                        self.pos += 1;
                    } else {
                        stack.push(false);
                        continue;
                    }
                }
                Peek::Object => {
                    self.pos += 1;
                    if self.next_byte() == Some(b'}') {
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
                    return Ok(self.slice(start, self.pos));
                };
                match (self.next_byte(), in_object) {
                    (Some(b','), false) => {
                        self.pos += 1;
                        break;
                    }
                    (Some(b','), true) => {
                        self.pos += 1;
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
        if self.next_byte() != Some(b':') {
            return self.error("expected ':'");
        }
        self.pos += 1;
        Ok(())
    }
}

/// The value of eight ASCII digits, or `None` if any byte is not a digit. SWAR: three
/// multiply-and-shift steps instead of eight.
#[inline(always)]
fn eight_digits(bytes: &[u8]) -> Option<u64> {
    let word = u64::from_le_bytes(bytes.try_into().ok()?);
    let values = word.wrapping_sub(0x3030_3030_3030_3030);
    // Every byte was 0x30..=0x39: no borrow out of a byte, and adding 6 keeps it below 0x10.
    let all_digits = (word & 0xF0F0_F0F0_F0F0_F0F0) == 0x3030_3030_3030_3030
        && (values.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) == 0;
    if !all_digits {
        return None;
    }
    // The first digit is the lowest byte: combine pairs, then quads, then the two halves.
    let pairs = values.wrapping_mul(10).wrapping_add(values >> 8);
    let quads = ((pairs & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32))
        + ((pairs >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(quads)
}

/// The index of the first `"`, `\` or control character (< 0x20) in `bytes`, or its length.
///
/// Eight bytes at a time: strings in chunks are mostly short ASCII runs, where this beats both
/// a byte loop and a SIMD search's set-up cost. The words may run past the string's end into
/// the rest of the document: only the first match counts.
#[inline]
fn find_string_special(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in words.by_ref() {
        let word = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word))
            & HIGHS;
        if found != 0 {
            return offset + (found.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    let tail = words.remainder();
    offset
        + tail
            .iter()
            .position(|&b| matches!(b, b'"' | b'\\' | 0..=0x1f))
            .unwrap_or(tail.len())
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
    fn errors_say_where_and_why() {
        let mut reader = JsonReader::new("{\"a\" 1}");
        assert!(reader.skip_value().is_err());
        assert_eq!(reader.take_error().to_string(), "expected ':' at byte 5");
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
    #[cfg_attr(miri, ignore = "100,000 cases: too slow under Miri")]
    fn eight_digits_matches_a_plain_parse() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let text = format!("{:08}", x % 100_000_000);
            assert_eq!(
                eight_digits(text.as_bytes()),
                Some(x % 100_000_000),
                "{text}"
            );
        }
        for bad in [
            "1234567a",
            "/1234567",
            ":1234567",
            "1234 567",
            "1234\u{7f}567",
        ] {
            assert_eq!(eight_digits(&bad.as_bytes()[..8]), None, "{bad}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(JsonReader::new("18446744073709551615").u64(), Ok(u64::MAX));
        assert_eq!(JsonReader::new(" 7").u32(), Ok(7));
        for n in [
            0u64,
            9,
            10,
            12345678,
            123456789,
            1741570283,
            99999999999999999,
            u64::MAX - 1,
        ] {
            let text = n.to_string();
            assert_eq!(JsonReader::new(&text).u64(), Ok(n), "{text}");
            assert_eq!(JsonReader::new(&format!("{text},")).u64(), Ok(n), "{text}");
        }
        assert!(JsonReader::new("0123456789").u64().is_err());
        assert!(
            JsonReader::new("-0").u64().is_err(),
            "serde_json reads -0 as a float"
        );
        assert!(JsonReader::new("-0.0").u64().is_err());
        assert!(JsonReader::new("-01").u64().is_err());
        assert!(JsonReader::new("12345678.5").u64().is_err());
        assert!(JsonReader::new("18446744073709551616").u64().is_err());
        assert!(JsonReader::new("-1").u64().is_err());
        assert!(JsonReader::new("1.0").u64().is_err());
        assert!(JsonReader::new("4294967296").u32().is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore = "a million brackets: too slow under Miri")]
    fn deep_nesting_does_not_overflow() {
        let deep = "[".repeat(1_000_000) + &"]".repeat(1_000_000);
        assert!(skip(&deep).is_ok());
        assert!(skip(&"[".repeat(1_000_000)).is_err());
    }
}
