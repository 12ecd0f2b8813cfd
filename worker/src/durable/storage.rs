//! A tiny JSON-document store over a Durable Object's SQLite: each object keeps its state as
//! a few named documents, read once into memory and written back after each change. SQL
//! calls are synchronous, so a read-modify-write never interleaves with another request.

use serde::{de::DeserializeOwned, Serialize};
use worker::State;

pub fn ensure(state: &State) -> worker::Result<()> {
    state.storage().sql().exec(
        "CREATE TABLE IF NOT EXISTS docs (name TEXT PRIMARY KEY, body TEXT NOT NULL)",
        None,
    )?;
    Ok(())
}

pub fn load<T: DeserializeOwned>(state: &State, name: &str) -> worker::Result<Option<T>> {
    ensure(state)?;
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
    // A fresh object may be written before it is ever read (a new virtual key, a tier set
    // for a user who never chatted): the table must exist for that too.
    ensure(state)?;
    let body = serde_json::to_string(value)?;
    state.storage().sql().exec(
        "INSERT OR REPLACE INTO docs (name, body) VALUES (?, ?)",
        vec![name.into(), body.into()],
    )?;
    Ok(())
}

pub fn delete(state: &State, name: &str) -> worker::Result<()> {
    ensure(state)?;
    state
        .storage()
        .sql()
        .exec("DELETE FROM docs WHERE name = ?", vec![name.into()])?;
    Ok(())
}
