//! Alerts (docs/alerts.md), pure: what happened ([`event`]: subject, kind, the key that makes
//! each alert once-only), how it reads in Chinese and English ([`message`]), the request each
//! receiver format expects, signed where the vendor signs ([`format`]), how a vendor's answer
//! is judged ([`reply`]), which key-health changes and error rates raise one ([`sources`]), when a failed send is tried again and what the log keeps
//! ([`delivery`]). The `AlertsDo` shell stores, sends and logs; nothing here does I/O.

pub mod delivery;
pub mod event;
pub mod format;
pub mod message;
pub mod reply;
pub mod sources;

pub use event::{budget_alerts, Alert, AlertKind, BudgetPeriod, Period, Subject};
