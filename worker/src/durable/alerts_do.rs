//! `AlertsDo` (one, `global`): the alerts' outbox. Sources raise alerts here and go on (they
//! never wait for a send); each alert is kept once by its dedup key in SQLite, so a second
//! raise of it, from another isolate or after a restart, sends nothing. Each new alert
//! becomes one delivery per configured webhook, sent from the object's alarm, retried with
//! backoff (`oachat_core::alerts::delivery`), and every try is logged for `GET /admin/alerts`.

use futures_util::future::{select, Either};
use oachat_core::alerts::delivery::{after_attempt, LogEntry, Next, LOG_KEEP};
use oachat_core::alerts::format::webhook_post;
use oachat_core::alerts::reply::judge;
use oachat_core::alerts::Alert;
use oachat_core::alerts_call::{AlertsCall, DeliveryLog, LogQuery, Raise, Raised};
use oachat_core::config::AlertsConfig;
use serde::Deserialize;
use worker::{
    durable_object, AbortController, Delay, DurableObject, Env, Fetch, Headers, Method, Request,
    RequestInit, RequestRedirect, Response, State,
};

use crate::durable::client::{answer, call};
use crate::durable::tables::Tables;
use crate::runtime::runtime;
use crate::time::now_ms;

pub const BINDING: &str = "ALERTS";
pub const OBJECT_NAME: &str = "global";

/// A receiver that has not answered in this long is a failed try (retried later).
const SEND_TIMEOUT_MS: u64 = 10_000;
/// Dedup keys are forgotten after this long: longer than any period they name (a month).
const SEEN_KEEP_MS: u64 = 40 * 86_400_000;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS alerts_seen (dedup_key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, \
     repeats INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS alert_deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, \
     alert TEXT NOT NULL, webhook INTEGER NOT NULL, attempt INTEGER NOT NULL, due_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS alert_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL)",
];

#[durable_object]
pub struct AlertsDo {
    state: State,
    env: Env,
    tables: Tables,
}

impl DurableObject for AlertsDo {
    fn new(state: State, env: Env) -> Self {
        AlertsDo {
            state,
            env,
            tables: Tables::new(&[SCHEMA]),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.tables.ensure(&self.state)?;
        match call(&mut req).await? {
            AlertsCall::Raise(raise) => answer::<Raise>(self.handle_raise(raise).await?),
            AlertsCall::Log(query) => answer::<LogQuery>(self.handle_log(query)?),
        }
    }

    /// Sends what is due, then sets the alarm for the next retry.
    async fn alarm(&self) -> worker::Result<Response> {
        self.tables.ensure(&self.state)?;
        self.send_due().await?;
        self.schedule().await?;
        Response::ok("")
    }
}

#[derive(Deserialize)]
struct Delivery {
    id: f64,
    alert: String,
    webhook: f64,
    attempt: f64,
}

impl AlertsDo {
    fn config(&self) -> AlertsConfig {
        runtime(&self.env)
            .map(|runtime| runtime.config.alerts.clone())
            .unwrap_or_default()
    }

    async fn handle_raise(&self, Raise { alerts }: Raise) -> worker::Result<Raised> {
        let webhooks = self.config().webhooks.len();
        let sql = self.state.storage().sql();
        let now = now_ms();
        let mut new = 0;
        for alert in alerts {
            let key = alert.dedup_key();
            // One event at a time in this object: the check and the insert cannot interleave.
            let seen: Vec<serde_json::Value> = sql
                .exec(
                    "SELECT 1 AS one FROM alerts_seen WHERE dedup_key = ?",
                    vec![key.as_str().into()],
                )?
                .to_array()?;
            if !seen.is_empty() {
                sql.exec(
                    "UPDATE alerts_seen SET repeats = repeats + 1 WHERE dedup_key = ?",
                    vec![key.as_str().into()],
                )?;
                continue;
            }
            sql.exec(
                "INSERT INTO alerts_seen (dedup_key, at_ms) VALUES (?, ?)",
                vec![key.as_str().into(), (now as i64).into()],
            )?;
            let body = serde_json::to_string(&alert)?;
            for webhook in 0..webhooks {
                sql.exec(
                    "INSERT INTO alert_deliveries (alert, webhook, attempt, due_ms) VALUES (?, ?, 0, ?)",
                    vec![body.as_str().into(), (webhook as i64).into(), (now as i64).into()],
                )?;
            }
            new += 1;
        }
        if new > 0 {
            self.schedule().await?;
        }
        Ok(Raised { new })
    }

    fn handle_log(&self, LogQuery { limit }: LogQuery) -> worker::Result<DeliveryLog> {
        #[derive(Deserialize)]
        struct Row {
            entry: String,
        }
        #[derive(Deserialize)]
        struct Count {
            pending: f64,
        }
        #[derive(Deserialize)]
        struct Repeats {
            repeated: Option<f64>,
        }
        let sql = self.state.storage().sql();
        let rows: Vec<Row> = sql
            .exec(
                "SELECT entry FROM alert_log ORDER BY seq DESC LIMIT ?",
                vec![i64::from(limit.min(LOG_KEEP as u32)).into()],
            )?
            .to_array()?;
        let pending: Count = sql
            .exec("SELECT COUNT(*) AS pending FROM alert_deliveries", None)?
            .one()?;
        let repeats: Repeats = sql
            .exec("SELECT SUM(repeats) AS repeated FROM alerts_seen", None)?
            .one()?;
        Ok(DeliveryLog {
            entries: rows
                .iter()
                .filter_map(|row| serde_json::from_str::<LogEntry>(&row.entry).ok())
                .collect(),
            pending: pending.pending as u32,
            repeated: repeats.repeated.unwrap_or(0.0) as u64,
        })
    }

    /// The alarm at the earliest due delivery (none: no alarm).
    async fn schedule(&self) -> worker::Result<()> {
        #[derive(Deserialize)]
        struct Due {
            due_ms: Option<f64>,
        }
        let due: Due = self
            .state
            .storage()
            .sql()
            .exec("SELECT MIN(due_ms) AS due_ms FROM alert_deliveries", None)?
            .one()?;
        if let Some(due_ms) = due.due_ms {
            let storage = self.state.storage();
            let current = storage.get_alarm().await?;
            if current.is_none_or(|at| at as f64 > due_ms) {
                let wait = (due_ms as u64).saturating_sub(now_ms());
                storage
                    .set_alarm(std::time::Duration::from_millis(wait))
                    .await?;
            }
        }
        Ok(())
    }

    async fn send_due(&self) -> worker::Result<()> {
        let config = self.config();
        let now = now_ms();
        let sql = self.state.storage().sql();
        let due: Vec<Delivery> = sql
            .exec(
                "SELECT id, alert, webhook, attempt FROM alert_deliveries WHERE due_ms <= ? ORDER BY id",
                vec![(now as i64).into()],
            )?
            .to_array()?;
        for delivery in due {
            let id = delivery.id as i64;
            let (Ok(alert), Some(webhook)) = (
                serde_json::from_str::<Alert>(&delivery.alert),
                config.webhooks.get(delivery.webhook as usize),
            ) else {
                // The config lost this webhook since: nothing to send it to.
                sql.exec("DELETE FROM alert_deliveries WHERE id = ?", vec![id.into()])?;
                continue;
            };
            let attempt = delivery.attempt as u32 + 1;
            let result = send(webhook, &alert).await;
            let finished = now_ms();
            let next = after_attempt(
                attempt,
                result.is_ok(),
                finished,
                config.retry_base_s.saturating_mul(1000),
            );
            match next {
                Next::RetryAt(due_ms) => sql.exec(
                    "UPDATE alert_deliveries SET attempt = ?, due_ms = ? WHERE id = ?",
                    vec![i64::from(attempt).into(), (due_ms as i64).into(), id.into()],
                )?,
                Next::Done | Next::GiveUp => {
                    sql.exec("DELETE FROM alert_deliveries WHERE id = ?", vec![id.into()])?
                }
            };
            let entry = LogEntry::new(
                &alert,
                webhook.format.name(),
                &webhook.host(),
                attempt,
                &result,
                next,
                finished,
            );
            // At `info`, beside the request lines; the entry holds no URL, body or secret.
            web_sys::console::info_1(
                &format!("oachat: alert {}", serde_json::to_string(&entry)?).into(),
            );
            sql.exec(
                "INSERT INTO alert_log (entry) VALUES (?)",
                vec![serde_json::to_string(&entry)?.into()],
            )?;
        }
        sql.exec(
            "DELETE FROM alert_log WHERE seq <= (SELECT MAX(seq) FROM alert_log) - ?",
            vec![(LOG_KEEP as i64).into()],
        )?;
        sql.exec(
            "DELETE FROM alerts_seen WHERE at_ms < ?",
            vec![(now.saturating_sub(SEEN_KEEP_MS) as i64).into()],
        )?;
        Ok(())
    }
}

/// One try: the vendor's request, redirects not followed, judged by status and body.
async fn send(webhook: &oachat_core::config::AlertWebhook, alert: &Alert) -> Result<(), String> {
    let post = webhook_post(webhook, alert, now_ms());
    let controller = AbortController::default();
    let request = (|| {
        let headers = Headers::new();
        for (name, value) in &post.headers {
            headers.set(name, value)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(post.body.as_str().into()));
        Request::new_with_init(&post.url, &init)
    })()
    .map_err(|_| "bad request".to_string())?;
    let signal = controller.signal();
    let exchange = async move {
        let response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|_| "network error".to_string())?;
        let status = response.status_code();
        let body = crate::body::text(response).await.unwrap_or_default();
        judge(webhook.format, status, &body)
    };
    match select(
        Box::pin(exchange),
        Box::pin(Delay::from(std::time::Duration::from_millis(
            SEND_TIMEOUT_MS,
        ))),
    )
    .await
    {
        Either::Left((result, _)) => result,
        Either::Right((_, unanswered)) => {
            drop(unanswered);
            controller.abort();
            Err("timeout".into())
        }
    }
}
