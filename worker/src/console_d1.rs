//! The console's read-only queries on the D1 ledger (ledger pages, user search, quality): the
//! statements are the core's (`oachat_core::admin_query`, SQL text with bound values); this
//! only binds and runs them. Writes to the ledger stay in `ledger_d1.rs`, which also creates
//! the schema these read.

use oachat_core::admin_query::Statement;
use oachat_core::error::ProxyError;
use serde::de::DeserializeOwned;
use worker::Env;

use crate::error::internal;
use crate::ledger_d1::{self, D1Ledger};

/// Every row `statement` selects.
pub async fn all<T: DeserializeOwned>(
    env: &Env,
    statement: &Statement,
) -> Result<Vec<T>, ProxyError> {
    // Opening the ledger creates its schema if this isolate has not yet: a console read on a
    // fresh deployment finds an empty table rather than none.
    drop(D1Ledger::open(env).await?);
    let db = env.d1(ledger_d1::BINDING).map_err(internal)?;
    let values = ledger_d1::js_values(&statement.values);
    db.prepare(&statement.sql)
        .bind(&values)
        .map_err(internal)?
        .all()
        .await
        .map_err(internal)?
        .results()
        .map_err(internal)
}
