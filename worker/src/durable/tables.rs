//! How every Durable Object creates its tables: once per object instance, before it handles
//! its first request or alarm, all of them in one go. Each store names its statements (a
//! `SCHEMA` beside the SQL that uses them) and each object lists the stores it holds; the
//! stores then assume their tables exist, and no call pays for a `CREATE TABLE` again.

use std::cell::Cell;

use worker::State;

pub struct Tables {
    schemas: &'static [&'static [&'static str]],
    migrations: &'static [&'static str],
    ready: Cell<bool>,
}

impl Tables {
    pub const fn new(schemas: &'static [&'static [&'static str]]) -> Tables {
        Tables {
            schemas,
            migrations: &[],
            ready: Cell::new(false),
        }
    }

    /// Columns added since objects were first created (`ALTER TABLE ... ADD COLUMN`): run
    /// after the schema, each allowed to fail where the column is already there.
    pub const fn with_migrations(mut self, migrations: &'static [&'static str]) -> Tables {
        self.migrations = migrations;
        self
    }

    /// Creates what is missing (`CREATE ... IF NOT EXISTS`), the first time only. On an error
    /// the next call tries again.
    pub fn ensure(&self, state: &State) -> worker::Result<()> {
        if self.ready.get() {
            return Ok(());
        }
        let sql = state.storage().sql();
        for statement in self.schemas.iter().flat_map(|schema| schema.iter()) {
            sql.exec(statement, None)?;
        }
        for migration in self.migrations {
            let _ = sql.exec(migration, None);
        }
        self.ready.set(true);
        Ok(())
    }
}
