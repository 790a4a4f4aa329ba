//! The history: every exchange of `gptproto chat` in a SQLite database (WAL, so that
//! processes writing at once lose nothing), searchable with FTS5, its schema versioned and
//! migrated forward. A database that cannot be opened or written is a warning: the chat goes
//! on.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gptproto::{ChatCompletion, ChatRequest, Content, Message};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, params};

mod schema;

/// The variable naming the database file.
pub(crate) const ENV_HISTORY: &str = "GPTPROTO_HISTORY";

/// How long a writer waits for another's lock before giving up (a write takes well under a
/// millisecond: this is a process holding the database, not a queue of writers).
const BUSY_TIMEOUT: Duration = Duration::from_secs(3);

/// The size of the write-ahead log past which an exchange's record checkpoints it (and
/// truncates it).
const WAL_CHECKPOINT_AT: u64 = 256 * 1024;

/// The database's path: `GPTPROTO_HISTORY`, else `gptproto/history.db` in the platform's data
/// directory (`$XDG_DATA_HOME`, `~/.local/share` on Linux).
pub(crate) fn path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(ENV_HISTORY).filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    dirs::data_dir().map(|dir| dir.join("gptproto").join("history.db"))
}

/// An open history.
#[derive(Debug)]
pub(crate) struct History {
    connection: Connection,
    path: PathBuf,
}

/// One exchange to record.
#[derive(Debug)]
pub(crate) struct Exchange<'a> {
    pub(crate) conversation: &'a str,
    pub(crate) profile: Option<&'a str>,
    pub(crate) base_url: &'a str,
    pub(crate) request: &'a ChatRequest,
    pub(crate) completion: Option<&'a ChatCompletion>,
    pub(crate) error: Option<String>,
    pub(crate) first_token: Option<Duration>,
    pub(crate) duration: Duration,
    pub(crate) request_id: Option<&'a str>,
    /// What it cost, at the prices in force.
    pub(crate) cost: Option<f64>,
}

/// A recorded exchange, as `logs` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) conversation: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub(crate) time: String,
    pub(crate) model: String,
    pub(crate) profile: Option<String>,
    pub(crate) prompt: String,
    pub(crate) response: Option<String>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) input_tokens: Option<i64>,
    pub(crate) output_tokens: Option<i64>,
    pub(crate) first_token_ms: Option<i64>,
    pub(crate) duration_ms: i64,
    pub(crate) request_id: Option<String>,
    pub(crate) error: Option<String>,
    /// What it cost at the prices in force when it was recorded.
    pub(crate) cost: Option<f64>,
}

/// What `logs` asks for.
#[derive(Debug, Default)]
pub(crate) struct Query<'a> {
    pub(crate) limit: usize,
    pub(crate) text: Option<&'a str>,
    pub(crate) conversation: Option<&'a str>,
}

impl History {
    /// Opens (creating it and its folder if need be) and migrates the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, String> {
        let fail = |error: &dyn std::fmt::Display| format!("{}: {error}", path.display());
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|error| fail(&error))?;
        }
        let mut connection = Connection::open(path).map_err(|error| fail(&error))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|error| fail(&error))?;
        // Write-ahead logging; commits not synced to disk one by one (WAL's `NORMAL`: a power
        // cut may lose the last exchanges, never the database); no checkpoint when the
        // command exits, but one after an exchange that leaves the log past
        // [`WAL_CHECKPOINT_AT`] (`record`): the next command reads the whole log when it opens
        // the database, so the log is kept small, and a short exchange costs its row and its
        // index entries written once (docs/cli.md).
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| connection.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| {
                connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            })
            .map_err(|error| fail(&error))?;
        schema::migrate(&mut connection).map_err(|error| fail(&error))?;
        Ok(Self {
            connection,
            path: path.to_owned(),
        })
    }

    /// The history at its usual place, or `None` with a warning on stderr (silently `None`
    /// where there is no place for it: no HOME and no `GPTPROTO_HISTORY`).
    pub(crate) fn open_or_warn() -> Option<Self> {
        let path = path()?;
        match Self::open(&path) {
            Ok(history) => Some(history),
            Err(error) => {
                eprintln!(
                    "gptproto: warning: history not available ({error}); the chat goes on without it"
                );
                None
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Records `exchange`; its id.
    pub(crate) fn record(&self, exchange: &Exchange<'_>) -> rusqlite::Result<i64> {
        let request = exchange.request;
        let prompt = request
            .messages
            .iter()
            .rev()
            .find(|message| message.role == gptproto::Role::User)
            .and_then(|message| message.content.as_ref())
            .and_then(|content| content.text())
            .map(|text| text.into_owned())
            .unwrap_or_default();
        let choice = exchange
            .completion
            .and_then(|completion| completion.choices.first());
        let usage = exchange
            .completion
            .and_then(|completion| completion.usage.as_ref());
        self.connection.execute(
            "INSERT INTO exchanges (conversation, created_ms, model, profile, base_url, prompt,
                 request_json, response_text, response_json, finish_reason, input_tokens,
                 output_tokens, first_token_ms, duration_ms, request_id, error, cost,
                 cached_tokens, reasoning_tokens)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19)",
            params![
                exchange.conversation,
                now_ms(),
                exchange
                    .completion
                    .map(|completion| completion.model.as_str())
                    .filter(|model| !model.is_empty())
                    .unwrap_or(&request.model),
                exchange.profile,
                exchange.base_url,
                prompt,
                to_json(request),
                choice.and_then(|choice| choice.message.text()),
                exchange.completion.map(stored_response),
                choice.and_then(|choice| choice
                    .finish_reason
                    .as_ref()
                    .map(|reason| reason.as_str().to_owned())),
                usage.map(|usage| usage.prompt_tokens as i64),
                usage.map(|usage| usage.completion_tokens as i64),
                exchange.first_token.map(|first| first.as_millis() as i64),
                exchange.duration.as_millis() as i64,
                exchange.request_id,
                exchange.error,
                exchange.cost,
                usage.map(|usage| usage.cached_prompt_tokens() as i64),
                usage.map(|usage| usage.reasoning_tokens() as i64),
            ],
        )?;
        let id = self.connection.last_insert_rowid();
        self.keep_log_small();
        Ok(id)
    }

    /// Checkpoints the write-ahead log into the database, and truncates it, once it is past
    /// [`WAL_CHECKPOINT_AT`]. Best effort: a log left long (another process reading, say) is
    /// only slower to open.
    fn keep_log_small(&self) {
        let mut log = self.path.clone().into_os_string();
        log.push("-wal");
        let long = std::fs::metadata(&log).is_ok_and(|log| log.len() > WAL_CHECKPOINT_AT);
        if long {
            let _ = self
                .connection
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }

    /// The conversation of the latest exchange.
    pub(crate) fn last_conversation(&self) -> rusqlite::Result<Option<String>> {
        self.connection
            .query_row(
                "SELECT conversation FROM exchanges ORDER BY id DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
    }

    /// The messages of conversation `id` so far (its last request's messages and the answer
    /// to it), or `None` when it has no answered exchange.
    pub(crate) fn messages(&self, id: &str) -> rusqlite::Result<Option<Vec<Message>>> {
        let last: Option<(String, String, Option<String>)> = self
            .connection
            .query_row(
                "SELECT request_json, response_json, response_text FROM exchanges
                 WHERE conversation = ?1 AND response_json IS NOT NULL ORDER BY id DESC LIMIT 1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        Ok(last.and_then(|(request, response, text)| {
            let request: ChatRequest = serde_json::from_str(&request).ok()?;
            let response: ChatCompletion = serde_json::from_str(&response).ok()?;
            let mut answer = response.choices.into_iter().next()?.message;
            // Its text, left out of the stored JSON (`stored_response`).
            if answer.content.is_none() {
                answer.content = text.map(Content::Text);
            }
            let mut messages = request.messages;
            messages.push(answer);
            Some(messages)
        }))
    }

    /// Exchanges, newest first: the latest `limit`, of one conversation, or matching a text
    /// (FTS5 over prompts and answers).
    pub(crate) fn list(&self, query: &Query<'_>) -> rusqlite::Result<Vec<Row>> {
        let mut sql = format!("SELECT {COLUMNS} FROM exchanges e");
        let mut conditions = Vec::new();
        let mut values: Vec<String> = Vec::new();
        if let Some(text) = query.text {
            sql.push_str(" JOIN exchanges_fts f ON f.rowid = e.id");
            conditions.push(format!("exchanges_fts MATCH ?{}", values.len() + 1));
            values.push(fts_phrase(text));
        }
        if let Some(conversation) = query.conversation {
            conditions.push(format!("e.conversation = ?{}", values.len() + 1));
            values.push(conversation.to_owned());
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY e.id DESC LIMIT {}", query.limit));
        let mut statement = self.connection.prepare(&sql)?;
        let rows = statement.query_map(rusqlite::params_from_iter(values), row)?;
        rows.collect()
    }

    /// One exchange, and its request and response as recorded (JSON; as text when a stored
    /// value is not JSON).
    pub(crate) fn get(
        &self,
        id: i64,
    ) -> rusqlite::Result<Option<(Row, serde_json::Value, Option<serde_json::Value>)>> {
        self.connection
            .query_row(
                &format!(
                    "SELECT {COLUMNS}, e.request_json, e.response_json FROM exchanges e WHERE e.id = ?1"
                ),
                [id],
                |found| {
                    let row = row(found)?;
                    // After the row's columns.
                    let response: Option<String> = found.get(ROW_COLUMNS + 1)?;
                    let response = response.map(|json| whole_response(json, row.response.as_deref()));
                    Ok((row, json_or_text(found.get(ROW_COLUMNS)?), response))
                },
            )
            .optional()
    }
}

/// How many columns [`COLUMNS`] names (what [`row`] reads).
const ROW_COLUMNS: usize = 15;

const COLUMNS: &str =
    "e.id, e.conversation, strftime('%Y-%m-%d %H:%M:%S', e.created_ms / 1000, 'unixepoch'),
    e.model, e.profile, e.prompt, e.response_text, e.finish_reason, e.input_tokens,
    e.output_tokens, e.first_token_ms, e.duration_ms, e.request_id, e.error, e.cost";

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: row.get(0)?,
        conversation: row.get(1)?,
        time: row.get(2)?,
        model: row.get(3)?,
        profile: row.get(4)?,
        prompt: row.get(5)?,
        response: row.get(6)?,
        finish_reason: row.get(7)?,
        input_tokens: row.get(8)?,
        output_tokens: row.get(9)?,
        first_token_ms: row.get(10)?,
        duration_ms: row.get(11)?,
        request_id: row.get(12)?,
        error: row.get(13)?,
        cost: row.get(14)?,
    })
}

/// How `logs --usage` groups its totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GroupBy {
    /// The model that answered.
    Model,
    /// The day (UTC).
    Day,
    /// The profile.
    Profile,
}

/// The tokens and cost of a group of exchanges.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub(crate) struct Totals {
    /// The model, day or profile (`-` for exchanges without a profile).
    pub(crate) group: String,
    pub(crate) exchanges: i64,
    pub(crate) input_tokens: i64,
    pub(crate) cached_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) reasoning_tokens: i64,
    /// The sum of the priced exchanges' costs.
    pub(crate) cost: f64,
    /// Exchanges with usage but no price when they were recorded (their cost is not counted).
    pub(crate) unpriced: i64,
}

impl History {
    /// Totals by `by`, of the exchanges recorded since `since_ms` (Unix milliseconds), in
    /// order of the group.
    pub(crate) fn usage(&self, by: GroupBy, since_ms: i64) -> rusqlite::Result<Vec<Totals>> {
        let group = match by {
            GroupBy::Model => "model",
            GroupBy::Day => "strftime('%Y-%m-%d', created_ms / 1000, 'unixepoch')",
            GroupBy::Profile => "COALESCE(profile, '-')",
        };
        let sql = format!(
            "SELECT {group} AS g, COUNT(*), COALESCE(SUM(input_tokens), 0),
                COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(output_tokens), 0),
                COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cost), 0.0),
                SUM(cost IS NULL AND input_tokens IS NOT NULL)
             FROM exchanges WHERE created_ms >= ?1 GROUP BY g ORDER BY g"
        );
        let mut statement = self.connection.prepare(&sql)?;
        let rows = statement.query_map([since_ms], |row| {
            Ok(Totals {
                group: row.get(0)?,
                exchanges: row.get(1)?,
                input_tokens: row.get(2)?,
                cached_tokens: row.get(3)?,
                output_tokens: row.get(4)?,
                reasoning_tokens: row.get(5)?,
                cost: row.get(6)?,
                unpriced: row.get(7)?,
            })
        })?;
        rows.collect()
    }
}

/// `text` as one FTS5 phrase (its quotes doubled): searched as written, never as a query
/// expression.
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

/// A new conversation id: time-ordered (milliseconds) and random.
pub(crate) fn new_conversation_id() -> String {
    format!("{:012x}{:08x}", now_ms(), fastrand::u32(..))
}

/// The answer as stored: its JSON, the first choice's text left out when it is plain text
/// (it is in `response_text` already, for the full-text index; [`whole_response`] and
/// `messages` put it back), so that a long answer is written once, not twice.
fn stored_response(completion: &ChatCompletion) -> String {
    let plain = completion
        .choices
        .first()
        .is_some_and(|choice| matches!(choice.message.content, Some(Content::Text(_))));
    if !plain {
        return to_json(completion);
    }
    let mut stored = completion.clone();
    stored.choices[0].message.content = None;
    to_json(&stored)
}

/// A stored answer, whole: its JSON (as text when it is not JSON), with the first choice's
/// text (the row's `response_text`) put back where the JSON left it out
/// ([`stored_response`]). Rows written before (the text in both places) are left as they are.
fn whole_response(json: String, text: Option<&str>) -> serde_json::Value {
    let mut response = json_or_text(json);
    let message = response
        .pointer_mut("/choices/0/message")
        .and_then(serde_json::Value::as_object_mut);
    if let (Some(message), Some(text)) = (message, text)
        && message
            .get("content")
            .is_none_or(serde_json::Value::is_null)
    {
        message.insert(
            "content".to_owned(),
            serde_json::Value::String(text.to_owned()),
        );
    }
    response
}

/// Stored JSON as a value (as text when it is not JSON).
fn json_or_text(json: String) -> serde_json::Value {
    serde_json::from_str(&json).unwrap_or(serde_json::Value::String(json))
}

/// A value stored as JSON text.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("gptproto-history-{name}-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        path
    }

    fn exchange<'a>(
        conversation: &'a str,
        request: &'a ChatRequest,
        completion: &'a ChatCompletion,
    ) -> Exchange<'a> {
        Exchange {
            conversation,
            profile: Some("work"),
            base_url: "http://localhost/v1",
            request,
            completion: Some(completion),
            error: None,
            first_token: Some(Duration::from_millis(120)),
            duration: Duration::from_millis(900),
            request_id: Some("req-1"),
            cost: Some(0.000_125),
        }
    }

    fn answer(text: &str) -> ChatCompletion {
        serde_json::from_value(serde_json::json!({
            "id": "c", "model": "m-1", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
        }))
        .unwrap()
    }

    #[test]
    fn a_long_answer_leaves_the_log_short_and_is_read_back_by_the_next_opener() {
        let path = temp("log");
        let log = PathBuf::from(format!("{}-wal", path.display()));
        let request = ChatRequest::new("m").user("Tell me everything");
        let history = History::open(&path).unwrap();
        history
            .record(&exchange("c1", &request, &answer("short")))
            .unwrap();
        let short = std::fs::metadata(&log).unwrap().len();
        assert!(short > 0, "a short exchange stays in the log");
        let long = "word ".repeat(200_000);
        history
            .record(&exchange("c1", &request, &answer(&long)))
            .unwrap();
        let after = std::fs::metadata(&log).unwrap().len();
        assert!(
            after <= WAL_CHECKPOINT_AT,
            "checkpointed and truncated: {after} bytes"
        );
        // The text is stored once: in the indexed column, not again in the answer's JSON.
        let (text, json): (String, String) = history
            .connection
            .query_row(
                "SELECT response_text, response_json FROM exchanges ORDER BY id DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(text, long);
        assert!(json.len() < 1000, "{json}");
        let (_, _, stored) = history.get(2).unwrap().unwrap();
        let shown = stored.unwrap();
        let whole = serde_json::to_value(answer(&long)).unwrap();
        assert_eq!(shown, whole, "`logs show` gives the answer whole");
        drop(history);
        let history = History::open(&path).unwrap();
        let messages = history.messages("c1").unwrap().unwrap();
        assert_eq!(messages.last().unwrap().text(), Some(long.as_str()));
    }

    #[test]
    fn recorded_listed_searched_and_continued() {
        let path = temp("roundtrip");
        let history = History::open(&path).unwrap();
        let first = ChatRequest::new("m")
            .system("Be brief.")
            .user("Name a colour");
        let red = answer("Crimson red");
        history.record(&exchange("c1", &first, &red)).unwrap();
        let second = ChatRequest::new("m").user("Name a fruit");
        history
            .record(&exchange("c2", &second, &answer("A pear")))
            .unwrap();

        let rows = history
            .list(&Query {
                limit: 10,
                ..Query::default()
            })
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].prompt.as_str(), rows[0].response.as_deref()),
            ("Name a fruit", Some("A pear"))
        );
        assert_eq!(
            (
                rows[1].input_tokens,
                rows[1].first_token_ms,
                rows[1].duration_ms
            ),
            (Some(7), Some(120), 900)
        );
        assert_eq!(rows[1].model, "m-1");
        let found = history
            .list(&Query {
                limit: 10,
                text: Some("crimson"),
                ..Query::default()
            })
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].conversation, "c1");
        // A query with FTS5 syntax in it is searched as text.
        assert!(
            history
                .list(&Query {
                    limit: 10,
                    text: Some("\"AND OR("),
                    ..Query::default()
                })
                .unwrap()
                .is_empty()
        );

        assert_eq!(history.last_conversation().unwrap().as_deref(), Some("c2"));
        let messages = history.messages("c1").unwrap().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[2].text(), Some("Crimson red"));
        // Reopened: migrated once, nothing lost.
        drop(history);
        let history = History::open(&path).unwrap();
        assert_eq!(
            history
                .list(&Query {
                    limit: 10,
                    ..Query::default()
                })
                .unwrap()
                .len(),
            2
        );
        let (row, request, response) = history.get(rows[1].id).unwrap().unwrap();
        assert_eq!(row.request_id.as_deref(), Some("req-1"));
        assert!(
            request.to_string().contains("Be brief.")
                && response.unwrap().to_string().contains("Crimson red")
        );
    }
}
