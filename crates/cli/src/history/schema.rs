//! The history's schema, versioned by SQLite's `user_version` and migrated forward, one step
//! at a time, each in its own transaction. A database written by a newer gptproto (a version
//! past the last known) is left alone.

use rusqlite::Connection;

/// Each version's migration, in order: `MIGRATIONS[n]` takes version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: exchanges, and their full-text index over prompts and answers.
    "CREATE TABLE exchanges (
        id INTEGER PRIMARY KEY,
        conversation TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        model TEXT NOT NULL,
        profile TEXT,
        base_url TEXT NOT NULL,
        prompt TEXT NOT NULL,
        request_json TEXT NOT NULL,
        response_text TEXT,
        response_json TEXT,
        finish_reason TEXT,
        input_tokens INTEGER,
        output_tokens INTEGER,
        first_token_ms INTEGER,
        duration_ms INTEGER NOT NULL,
        request_id TEXT,
        error TEXT
    );
    CREATE INDEX exchanges_by_conversation ON exchanges (conversation, id);
    CREATE VIRTUAL TABLE exchanges_fts USING fts5(
        prompt, response_text, content = 'exchanges', content_rowid = 'id'
    );
    CREATE TRIGGER exchanges_indexed AFTER INSERT ON exchanges BEGIN
        INSERT INTO exchanges_fts (rowid, prompt, response_text)
        VALUES (new.id, new.prompt, new.response_text);
    END;
    CREATE TRIGGER exchanges_unindexed AFTER DELETE ON exchanges BEGIN
        INSERT INTO exchanges_fts (exchanges_fts, rowid, prompt, response_text)
        VALUES ('delete', old.id, old.prompt, old.response_text);
    END;",
    // 2: the cached and reasoning tokens, and what each exchange cost at the price in force
    // when it was recorded (NULL: not reported, or no price).
    "ALTER TABLE exchanges ADD COLUMN cached_tokens INTEGER;
    ALTER TABLE exchanges ADD COLUMN reasoning_tokens INTEGER;
    ALTER TABLE exchanges ADD COLUMN cost REAL;
    CREATE INDEX exchanges_by_time ON exchanges (created_ms);",
];

/// The version this gptproto writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`VERSION`].
pub(super) fn migrate(connection: &mut Connection) -> Result<(), String> {
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|error| error.to_string())?;
    if version > VERSION {
        return Err(format!(
            "schema version {version}, written by a newer gptproto (this one knows {VERSION})"
        ));
    }
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        // Immediate: two processes migrating at once take turns.
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|error| error.to_string())?;
        let current: i64 = transaction
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|error| error.to_string())?;
        if current > from as i64 {
            // Another process migrated meanwhile.
            continue;
        }
        transaction
            .execute_batch(migration)
            .map_err(|error| format!("migrating to version {}: {error}", from + 1))?;
        transaction
            .pragma_update(None, "user_version", from as i64 + 1)
            .map_err(|error| error.to_string())?;
        transaction.commit().map_err(|error| error.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_reaches_the_latest_version_and_a_newer_one_is_refused() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        // Again: nothing to do.
        migrate(&mut connection).unwrap();
        connection
            .pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let error = migrate(&mut connection).unwrap_err();
        assert!(error.contains("newer gptproto"), "{error}");
    }

    #[test]
    fn a_version_1_database_keeps_its_rows_and_gains_the_cost_columns() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(MIGRATIONS[0]).unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
        connection
            .execute(
                "INSERT INTO exchanges (conversation, created_ms, model, base_url, prompt,
                     request_json, duration_ms, input_tokens, output_tokens)
                 VALUES ('c', 0, 'm', 'u', 'p', '{}', 5, 10, 20)",
                [],
            )
            .unwrap();
        migrate(&mut connection).unwrap();
        let (input, cost, cached): (i64, Option<f64>, Option<i64>) = connection
            .query_row(
                "SELECT input_tokens, cost, cached_tokens FROM exchanges",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!((input, cost, cached), (10, None, None));
    }
}
