//! A tiny JSON-document store over a Durable Object's SQLite: each object keeps its state as
//! a few named documents, read once into memory and written back after each change. SQL
//! calls are synchronous, so a read-modify-write never interleaves with another request. The
//! `docs` table is [`SCHEMA`], created by the object (`tables.rs`).

use serde::{de::DeserializeOwned, Serialize};
use worker::State;

pub const SCHEMA: &[&str] =
    &["CREATE TABLE IF NOT EXISTS docs (name TEXT PRIMARY KEY, body TEXT NOT NULL)"];

pub fn load<T: DeserializeOwned>(state: &State, name: &str) -> worker::Result<Option<T>> {
    #[derive(serde::Deserialize)]
    struct Row {
        body: String,
    }
    let rows: Vec<Row> = state
        .storage()
        .sql()
        .exec("SELECT body FROM docs WHERE name = ?", vec![name.into()])?
        .to_array()?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|row| serde_json::from_str(&row.body).ok()))
}

pub fn save<T: Serialize>(state: &State, name: &str, value: &T) -> worker::Result<()> {
    let body = serde_json::to_string(value)?;
    state.storage().sql().exec(
        "INSERT OR REPLACE INTO docs (name, body) VALUES (?, ?)",
        vec![name.into(), body.into()],
    )?;
    Ok(())
}

pub fn delete(state: &State, name: &str) -> worker::Result<()> {
    state
        .storage()
        .sql()
        .exec("DELETE FROM docs WHERE name = ?", vec![name.into()])?;
    Ok(())
}
