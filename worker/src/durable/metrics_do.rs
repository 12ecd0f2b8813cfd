//! `MetricsDo` (one, `global`): the deployment's metric totals. Isolates add their counts
//! (`metrics.rs` flushes about once a second while they have traffic); `GET /metrics` reads
//! them. The totals are one JSON document, kept in memory and written back after each add,
//! so they survive restarts and redeploys like the rest of the object's storage.

use std::cell::RefCell;

use oachat_core::metrics::Counts;
use oachat_core::metrics_call::{Add, Added, MetricsCall, TotalsQuery};
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::durable::client::{answer, call};
use crate::durable::storage;
use crate::durable::tables::Tables;

const TOTALS: &str = "totals";

#[durable_object]
pub struct MetricsDo {
    state: State,
    tables: Tables,
    /// The stored totals, read on first use.
    totals: RefCell<Option<Counts>>,
}

impl DurableObject for MetricsDo {
    fn new(state: State, _env: Env) -> Self {
        MetricsDo {
            state,
            tables: Tables::new(&[storage::SCHEMA]),
            totals: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.tables.ensure(&self.state)?;
        match call(&mut req).await? {
            MetricsCall::Add(Add { counts }) => {
                let mut totals = self.totals()?;
                totals.merge(*counts);
                storage::save(&self.state, TOTALS, &totals)?;
                *self.totals.borrow_mut() = Some(totals);
                answer::<Add>(Added {})
            }
            MetricsCall::Totals(TotalsQuery {}) => answer::<TotalsQuery>(self.totals()?),
        }
    }
}

impl MetricsDo {
    fn totals(&self) -> worker::Result<Counts> {
        if let Some(totals) = self.totals.borrow().as_ref() {
            return Ok(totals.clone());
        }
        Ok(storage::load(&self.state, TOTALS)?.unwrap_or_default())
    }
}
