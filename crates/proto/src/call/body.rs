//! [`Collected`]: a whole response body gathered up to a limit.

use bytes::{Bytes, BytesMut};

/// A body gathered piece by piece, at most a limit. A body that arrives in one piece (most JSON
/// answers) is kept as that piece: no copy.
#[derive(Debug, Default)]
pub(super) struct Collected {
    first: Option<Bytes>,
    rest: BytesMut,
}

impl Collected {
    pub(super) fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.rest.len()
    }

    /// Appends `bytes`; `false` when they would pass `limit`, and then only the part that fits
    /// is kept.
    pub(super) fn push(&mut self, bytes: Bytes, limit: usize) -> bool {
        let room = limit.saturating_sub(self.len());
        if bytes.len() > room {
            self.append(bytes.slice(..room));
            return false;
        }
        self.append(bytes);
        true
    }

    fn append(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(bytes);
            return;
        }
        if let Some(first) = self.first.take() {
            self.rest.extend_from_slice(&first);
        }
        self.rest.extend_from_slice(&bytes);
    }

    pub(super) fn into_bytes(self) -> Bytes {
        match self.first {
            Some(only) => only,
            None => self.rest.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_piece_is_kept_as_it_is_and_more_are_joined() {
        let piece = Bytes::from_static(b"{\"a\":1}");
        let mut one = Collected::default();
        assert!(one.push(piece.clone(), 100));
        let kept = one.into_bytes();
        assert_eq!(kept.as_ptr(), piece.as_ptr(), "not copied");

        let mut two = Collected::default();
        assert!(two.push(Bytes::from_static(b"ab"), 100));
        assert!(two.push(Bytes::from_static(b"cd"), 100));
        assert_eq!(two.into_bytes(), "abcd");
    }

    #[test]
    fn past_the_limit_only_what_fits_is_kept() {
        let mut body = Collected::default();
        assert!(body.push(Bytes::from_static(b"abc"), 5));
        assert!(!body.push(Bytes::from_static(b"defg"), 5));
        assert_eq!(body.len(), 5);
        assert_eq!(body.into_bytes(), "abcde");
    }
}
