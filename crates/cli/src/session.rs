//! A chat's place in the history: which conversation it continues or starts, and the record
//! of each exchange (unless logging is off). The history failing is a warning, never the
//! chat's failure.

use std::cell::{OnceCell, RefCell};
use std::thread::JoinHandle;
use std::time::Duration;

use gptproto::proto::price::PriceTable;
use gptproto::{ChatCompletion, ChatRequest, Message};

use crate::config::Loaded;
use crate::cost;
use crate::exit::Failure;
use crate::history::{self, Exchange, History};
use crate::options::{HistoryOptions, Resume};
use crate::settings::Connection;

/// What an exchange gave: the answer, or the error's message.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) completion: ChatCompletion,
    pub(crate) first_token: Option<Duration>,
    pub(crate) request_id: Option<String>,
    /// Whose server answered (after a fallback on another profile, that profile's provider).
    pub(crate) provider: gptproto::Provider,
}

#[derive(Debug)]
pub(crate) struct Session {
    /// The history, once opened (`None` inside: none, or it could not be opened).
    history: OnceCell<Option<History>>,
    /// The history being opened on a thread of its own while the request goes out: opening
    /// and migrating the database is off the call's path.
    opening: RefCell<Option<JoinHandle<Option<History>>>>,
    log: bool,
    conversation: String,
    /// The conversation's messages so far, when it continues one.
    earlier: Vec<Message>,
    profile: Option<String>,
    base_url: String,
    /// The prices in force: each exchange is recorded with its cost.
    prices: PriceTable,
}

impl Session {
    /// The session `options` ask for: `-c` or `--cid` continue a conversation (an error when
    /// there is none to continue), otherwise a new one; the history is opened when it is
    /// written or read.
    pub(crate) fn start(
        options: &HistoryOptions,
        loaded: &Loaded,
        connection: &Connection,
    ) -> Result<Self, Failure> {
        let log = options.log;
        let continuing = options.resume != Resume::New;
        let mut opening = None;
        let history = if continuing {
            let path = history::path().ok_or_else(|| {
                Failure::Usage(format!(
                    "no data directory: set {} to continue a conversation",
                    history::ENV_HISTORY
                ))
            })?;
            Some(
                History::open(&path)
                    .map_err(|error| Failure::Usage(format!("cannot continue: {error}")))?,
            )
        } else {
            if log {
                opening = Some(std::thread::spawn(History::open_or_warn));
            }
            None
        };
        let mut session = Self {
            history: history.map_or_else(OnceCell::new, |history| OnceCell::from(Some(history))),
            opening: RefCell::new(opening),
            log,
            conversation: history::new_conversation_id(),
            earlier: Vec::new(),
            profile: loaded.profile_name().map(str::to_owned),
            base_url: connection.base_url.0.clone(),
            prices: loaded.prices.clone(),
        };
        if continuing {
            let history = session.history().expect("opened to continue");
            let read = |error: rusqlite::Error| {
                Failure::Usage(format!("{}: {error}", history.path().display()))
            };
            let id = match &options.resume {
                Resume::Id(id) => id.clone(),
                _ => history.last_conversation().map_err(read)?.ok_or_else(|| {
                    Failure::Usage("-c: no conversation in the history yet".to_owned())
                })?,
            };
            session.earlier = history.messages(&id).map_err(read)?.ok_or_else(|| {
                Failure::Usage(format!(
                    "no answered exchange in conversation {id} (`gptproto logs` lists them)"
                ))
            })?;
            session.conversation = id;
        }
        Ok(session)
    }

    /// The history, waiting for it to be opened if it is being opened.
    fn history(&self) -> Option<&History> {
        self.history
            .get_or_init(|| {
                // A thread that panicked opened nothing: the chat goes on without a history.
                self.opening
                    .borrow_mut()
                    .take()
                    .and_then(|opening| opening.join().ok().flatten())
            })
            .as_ref()
    }

    /// Starts a new conversation (the REPL's `/clear`).
    pub(crate) fn restart(&mut self) {
        self.conversation = history::new_conversation_id();
        self.earlier.clear();
    }

    /// Where what is typed in the REPL is remembered: beside the history's database, when
    /// exchanges are recorded.
    pub(crate) fn input_history(&self) -> Option<std::path::PathBuf> {
        let path = history::path()?;
        (self.log).then(|| path.with_file_name("input-history.txt"))
    }

    /// The conversation's messages so far (empty for a new one).
    pub(crate) fn earlier(&self) -> &[Message] {
        &self.earlier
    }

    /// `base` with the conversation's messages, when it continues one (its own system message
    /// then gives way to the conversation's).
    pub(crate) fn resume(&self, mut base: ChatRequest) -> ChatRequest {
        if !self.earlier.is_empty() {
            base.messages = self.earlier.clone();
        }
        base
    }

    /// Records one exchange (a warning on stderr if it cannot be).
    pub(crate) fn record(
        &self,
        request: &ChatRequest,
        outcome: Result<&Answer, String>,
        duration: Duration,
    ) {
        if !self.log {
            return;
        }
        let Some(history) = self.history() else {
            return;
        };
        let (answer, error) = match outcome {
            Ok(answer) => (Some(answer), None),
            Err(error) => (None, Some(error)),
        };
        let exchange = Exchange {
            conversation: &self.conversation,
            profile: self.profile.as_deref(),
            base_url: &self.base_url,
            request,
            completion: answer.map(|answer| &answer.completion),
            error,
            first_token: answer.and_then(|answer| answer.first_token),
            duration,
            request_id: answer.and_then(|answer| answer.request_id.as_deref()),
            cost: answer
                .and_then(|answer| cost::of(&self.prices, &answer.completion, &request.model))
                .map(|(_, cost)| cost.total()),
        };
        if let Err(error) = history.record(&exchange) {
            eprintln!(
                "gptproto: warning: the exchange was not recorded in {} ({error})",
                history.path().display()
            );
        }
    }
}

/// What the history says of a failed exchange.
pub(crate) fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Api(error) => format!("{error:#}"),
        other => format!("{other:?}"),
    }
}
