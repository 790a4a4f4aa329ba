//! [`Error`]: the one error type of the crate, with predicates.

use std::fmt;

/// What can go wrong when defining tools or running the tool-call loop.
///
/// Ask it questions ([`is_invalid_name`](Self::is_invalid_name),
/// [`is_schema`](Self::is_schema), [`is_max_rounds`](Self::is_max_rounds), ...); the detail is
/// in [`kind`](Self::kind) and the `Display` text names what was wrong.
#[derive(Clone)]
pub struct Error {
    kind: Box<ErrorKind>,
}

/// What went wrong, in detail.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A function or schema name breaks the API's rule (a–z, A–Z, 0–9, `_`, `-`, 1 to 64).
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it: the offending character, or the length.
        reason: String,
    },
    /// A type's JSON Schema cannot be used where it was asked for (not an object, or not
    /// expressible in strict mode).
    Schema {
        /// The tool or format the schema is for.
        name: String,
        /// Where in the schema (a JSON pointer; empty for the root) and why.
        reason: String,
    },
    /// Two tools of a router share a name.
    DuplicateTool {
        /// The name.
        name: String,
    },
    /// The model still called tools when the loop's last round was answered.
    MaxRounds {
        /// The rounds (requests) allowed.
        rounds: u32,
        /// The tools called in the last answer.
        called: Vec<String>,
    },
    /// The answer has no choice to read tool calls or text from.
    NoChoice,
    /// [`ToolLoop::answer`](crate::ToolLoop::answer) was given an answer after the final one.
    Finished,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind: Box::new(kind),
        }
    }

    pub(crate) fn schema(name: &str, pointer: &str, reason: impl fmt::Display) -> Self {
        let at = if pointer.is_empty() {
            "at the root".to_owned()
        } else {
            format!("at {pointer}")
        };
        Self::new(ErrorKind::Schema {
            name: name.to_owned(),
            reason: format!("{at}: {reason}"),
        })
    }

    /// The detail of what went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// A function or schema name breaks the API's naming rule.
    pub fn is_invalid_name(&self) -> bool {
        matches!(*self.kind, ErrorKind::InvalidName { .. })
    }

    /// A type's schema cannot be used as tool parameters or a response format.
    pub fn is_schema(&self) -> bool {
        matches!(*self.kind, ErrorKind::Schema { .. })
    }

    /// A router was given two tools with one name.
    pub fn is_duplicate_tool(&self) -> bool {
        matches!(*self.kind, ErrorKind::DuplicateTool { .. })
    }

    /// The tool-call loop reached its most rounds with the model still calling tools.
    pub fn is_max_rounds(&self) -> bool {
        matches!(*self.kind, ErrorKind::MaxRounds { .. })
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
            ErrorKind::InvalidName { name: _, reason } => {
                write!(f, "invalid function or schema name: {reason}")
            }
            ErrorKind::Schema { name, reason } => {
                write!(f, "the JSON Schema for {name:?} cannot be used {reason}")
            }
            ErrorKind::DuplicateTool { name } => {
                write!(f, "the tool {name:?} is registered twice")
            }
            ErrorKind::MaxRounds { rounds, called } => write!(
                f,
                "the model still called tools ({}) after {rounds} rounds, the most allowed",
                called.join(", ")
            ),
            ErrorKind::NoChoice => write!(f, "the answer has no choice"),
            ErrorKind::Finished => write!(
                f,
                "the tool-call loop is done: it takes no answer after the final one"
            ),
        }
    }
}

impl std::error::Error for Error {}
