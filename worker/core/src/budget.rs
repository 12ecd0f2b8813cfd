//! Budgets that concurrent requests cannot overspend: per-user daily token and USD budgets with
//! reservations, and a deployment-wide daily USD cap handed out as leases.
//!
//! # Reservation
//! Before a request goes upstream, its worst case is reserved: the prompt estimate plus the
//! clamped `max_tokens` (see `metering::estimate_request_prompt_tokens`), in tokens and in micro-USD. A reservation is
//! refused when `spent + reserved + this > limit`, so the sum of everything in flight always
//! fits: twenty simultaneous requests against room for five admit exactly five. When the answer
//! ends, [`Budget::settle`] replaces the reservation by the metered usage; on a failure or
//! cancel before any usage, [`Budget::release`] frees it. A settle is never dropped: whatever
//! became of the reservation, the metered usage is charged (the worker sends each settle once,
//! so charging an id it does not know can only err towards the budget).
//!
//! Money is counted in integer micro-USD: float sums drift, and a budget check must compare
//! exactly (1 USD = 1,000,000 micro-USD, so a price in USD per million tokens is micro-USD per
//! token).
//!
//! **Overrun.** Metered usage is recorded truthfully even when it exceeds its reservation (the
//! prompt estimate was low). Spend can then pass the limit by at most the sum of such overruns of
//! requests in flight at that moment; the next reservation is refused. The estimate is chosen to
//! err high so this does not happen in practice.
//!
//! **Day rollover (UTC).** On the first call of a new UTC day, spend resets to zero. Reservations
//! still in flight carry over and settle into the new day: usage counts on the day it is settled,
//! which never lets yesterday's leftovers be spent twice. The ledger keeps the exact timestamps.
//!
//! **Reservations live as long as their request.** The worker renews a request's reservation
//! ([`Budget::renew`]) every third of the TTL while the request runs, however long its stream.
//! Only a reservation nobody renewed for a whole TTL (its isolate died) expires, and it expires
//! into spend: it is *charged in full*, because the upstream may well have generated all of it.
//! Releasing it instead let a 100-second stream's budget be spent twice. The charged reservation
//! stays known for a day, so a settle that arrives after all replaces the charge by the metered
//! usage, exactly once; a settle for an id no longer known is charged as it stands.
//!
//! # Deployment budget: leases
//! One global object consulted on every request would be both a bottleneck and a single point
//! of latency. Instead the deployment cap lives in one [`DeploymentBudget`] (a Durable Object)
//! that hands out *leases*: slices of the day's cap (`budget.lease_slice_usd`, default 0.5 USD)
//! granted to per-user objects. A user object spends from its lease locally and only calls the
//! deployment object when the lease runs short ([`Budget::lease_request`]) and to return what it
//! does not need ([`Budget::take_lease_surplus`], on a deployment refusal or when idle).
//! "Idle" is checked after every settle ([`Budget::idle_lease_surplus`]): with nothing in
//! flight, a user keeps a few worst-case reservations' worth (`account::LEASE_KEEP_RESERVATIONS`)
//! and returns the rest, so leases of users who stopped chatting cannot strand the cap.
//! One user object makes one lease call at a time (`durable/user_do.rs`): its concurrent
//! requests wait for that grant instead of each taking a slice.
//!
//! The deployment object never grants more than `cap - granted`, so the sum of all leases never
//! exceeds the day's cap, and a user object never reserves beyond its lease: the deployment
//! cannot overspend (up to the overrun bound above). Failures err towards refusing: a grant whose
//! reply is lost, or a give-back whose call fails, leaves money unused, never double-spent.
//! Near the cap, grants shrink to what is left; a user refused for the deployment returns its
//! lease at once so others can use it. A user's ask never exceeds its own remaining daily USD,
//! so a guest with 0.10 USD left does not strand a whole slice.
//!
//! Flow inside the user object, per request:
//! 1. [`Budget::check`]: user limits (dry run, so no lease is fetched for a request refused
//!    anyway);
//! 2. if [`Budget::lease_request`] says so, ask the deployment object for that much and pass
//!    the grant to [`Budget::add_lease`];
//! 3. [`Budget::reserve`]: refuses `Deployment` if the lease still does not cover it; then call
//!    [`Budget::take_lease_surplus`]`(0)` and give the amount back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calendar::{month_of_day, Zone};

/// Milliseconds per day.
pub use crate::calendar::DAY_MS;

/// Reservations older than this are presumed dead and released.
pub const DEFAULT_RESERVATION_TTL_MS: u64 = 10 * 60 * 1000;

/// How long a reservation charged at expiry stays known, so that a late settle replaces its
/// charge instead of adding to it.
pub const CHARGED_MEMORY_MS: u64 = DAY_MS;

/// The UTC day number of a Unix time in milliseconds.
pub fn utc_day(now_ms: u64) -> u32 {
    u32::try_from(now_ms / DAY_MS).unwrap_or(u32::MAX)
}

/// Start of the UTC day after `day`, in Unix milliseconds: when a daily budget resets.
pub fn next_day_start_ms(day: u32) -> u64 {
    (u64::from(day) + 1) * DAY_MS
}

/// Which limit refused a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    /// The user's `daily_tokens`.
    Tokens,
    /// The user's `daily_usd`.
    Usd,
    /// The deployment's `budget.daily_usd` (the user's lease could not be topped up).
    Deployment,
}

/// A refused reservation (429 `budget_exceeded`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetRefusal {
    pub which: BudgetKind,
    /// When the daily budget resets (start of the next UTC day).
    pub resets_at_ms: u64,
}

/// One request's hold on the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub tokens: u64,
    pub micro_usd: u64,
    /// When the reservation was made or last renewed (the name is kept for stored rows).
    pub created_ms: u64,
    /// Set when the reservation expired unrenewed and was charged in full on this UTC day: it no
    /// longer counts as reserved, its amount is in the day's spend until a settle replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged_day: Option<u32>,
}

impl Reservation {
    fn live(&self) -> bool {
        self.charged_day.is_none()
    }
}

/// What [`Budget::settle`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Replaced a live reservation.
    Settled { reserved_micro_usd: u64 },
    /// The reservation had expired and was charged in full; the metered usage replaced that.
    Late,
    /// No reservation is known for this id: the usage was charged as it stands.
    Unknown,
}

/// The part of the deployment cap this user object holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Lease {
    /// Granted by the deployment today (net of give-backs).
    granted: u64,
    /// Reserved plus spent against it today; above `granted` only after an overrun.
    used: u64,
}

impl Lease {
    fn available(&self) -> u64 {
        self.granted.saturating_sub(self.used)
    }
}

/// A user's budget for one UTC day. Kept in the user's Durable Object, which handles one
/// request at a time, so `&mut self` methods are atomic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// The local day (in `zone`) the day's totals are for.
    day: u32,
    /// The time zone days and months are counted in (`budget.timezone`); UTC for documents
    /// written before it existed.
    #[serde(default)]
    zone: Zone,
    /// The calendar month (`calendar::month_of_day`) the month's totals are for; 0 in
    /// documents written before months were counted.
    #[serde(default)]
    month: u32,
    #[serde(default)]
    month_spent_tokens: u64,
    #[serde(default)]
    month_spent_micro_usd: u64,
    limit_tokens: Option<u64>,
    limit_micro_usd: Option<u64>,
    spent_tokens: u64,
    spent_micro_usd: u64,
    reserved_tokens: u64,
    reserved_micro_usd: u64,
    /// Persisted as rows of their own, one per reservation, so the budget's document stays
    /// the same small size however many requests are in flight (read here only from the
    /// document of before that split, to migrate it). Holds live reservations and, for a day,
    /// those charged at expiry.
    #[serde(default, skip_serializing)]
    reservations: BTreeMap<String, Reservation>,
    ttl_ms: u64,
    /// `None` when the deployment is unlimited and no lease is needed.
    lease: Option<Lease>,
    lease_slice_micro_usd: u64,
    /// What changed since the owner last took the changes, so it persists only that.
    #[serde(skip)]
    changes: BudgetChanges,
}

/// What changed in a [`Budget`] since [`Budget::take_changes`]: the document (totals, limits,
/// lease, expired ids) and which reservations were added or removed.
#[derive(Clone, Debug, Default)]
pub struct BudgetChanges {
    pub document: bool,
    /// Request ids whose reservation was made or removed, possibly repeated.
    pub reservations: Vec<String>,
}

/// Bookkeeping, not state: two budgets are equal whatever is pending.
impl PartialEq for BudgetChanges {
    fn eq(&self, _other: &BudgetChanges) -> bool {
        true
    }
}

impl Eq for BudgetChanges {}

/// A snapshot for `GET /admin/usage` and for the widget's remaining-budget display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetUsage {
    pub day: u32,
    /// This calendar month: spent so far (reservations in flight count against it too, as
    /// `reserved_*`), and when it resets.
    #[serde(default)]
    pub month: u32,
    #[serde(default)]
    pub month_spent_tokens: u64,
    #[serde(default)]
    pub month_spent_micro_usd: u64,
    #[serde(default)]
    pub month_resets_at_ms: u64,
    pub spent_tokens: u64,
    pub spent_micro_usd: u64,
    pub reserved_tokens: u64,
    pub reserved_micro_usd: u64,
    pub limit_tokens: Option<u64>,
    pub limit_micro_usd: Option<u64>,
    pub resets_at_ms: u64,
}

impl Budget {
    /// A budget with the user's limits (`None` is unlimited), not drawing on a deployment lease.
    pub fn new(limit_tokens: Option<u64>, limit_micro_usd: Option<u64>, now_ms: u64) -> Budget {
        let zone = Zone::utc();
        let day = zone.day(now_ms);
        Budget {
            day,
            month: month_of_day(day),
            month_spent_tokens: 0,
            month_spent_micro_usd: 0,
            zone,
            limit_tokens,
            limit_micro_usd,
            spent_tokens: 0,
            spent_micro_usd: 0,
            reserved_tokens: 0,
            reserved_micro_usd: 0,
            reservations: BTreeMap::new(),
            ttl_ms: DEFAULT_RESERVATION_TTL_MS,
            lease: None,
            lease_slice_micro_usd: 0,
            // A new budget has never been persisted.
            changes: BudgetChanges {
                document: true,
                reservations: Vec::new(),
            },
        }
    }

    /// Takes what changed since the last call (see [`BudgetChanges`]).
    pub fn take_changes(&mut self) -> BudgetChanges {
        std::mem::take(&mut self.changes)
    }

    /// The live reservation of request `id`.
    pub fn reservation(&self, id: &str) -> Option<Reservation> {
        self.reservations.get(id).copied()
    }

    /// Every live reservation.
    pub fn reservations(&self) -> impl Iterator<Item = (&str, Reservation)> {
        self.reservations
            .iter()
            .map(|(id, reservation)| (id.as_str(), *reservation))
    }

    /// Puts back persisted reservations into a budget read from its document (whose totals
    /// already count them).
    pub fn restore_reservations(&mut self, rows: impl IntoIterator<Item = (String, Reservation)>) {
        self.reservations.extend(rows);
    }

    /// Draw USD on a lease from the deployment budget, asking for `slice_micro_usd` at a time.
    pub fn with_lease(mut self, slice_micro_usd: u64) -> Budget {
        self.lease = Some(Lease::default());
        self.lease_slice_micro_usd = slice_micro_usd;
        self
    }

    pub fn with_ttl(mut self, ttl_ms: u64) -> Budget {
        self.ttl_ms = ttl_ms;
        self
    }

    /// Counts days and months in `zone` (from the next call on).
    pub fn with_zone(mut self, zone: Zone, now_ms: u64) -> Budget {
        self.set_zone(zone, now_ms);
        self
    }

    /// A new time zone (config change). A day that, in the new zone, has already begun rolls
    /// over at once; one that has not keeps its totals until it does.
    pub fn set_zone(&mut self, zone: Zone, now_ms: u64) {
        if self.zone != zone {
            self.zone = zone;
            self.changes.document = true;
            self.maintain(now_ms);
        }
    }

    /// New limits (a tier change); reservations already made stand.
    pub fn set_limits(&mut self, limit_tokens: Option<u64>, limit_micro_usd: Option<u64>) {
        if (self.limit_tokens, self.limit_micro_usd) != (limit_tokens, limit_micro_usd) {
            self.changes.document = true;
        }
        self.limit_tokens = limit_tokens;
        self.limit_micro_usd = limit_micro_usd;
    }

    /// Whether a reservation of this size would fit the user's own limits now, without making
    /// it. Does not consider the lease.
    pub fn check(&mut self, tokens: u64, micro_usd: u64, now_ms: u64) -> Result<(), BudgetRefusal> {
        self.maintain(now_ms);
        let refuse = |which| BudgetRefusal {
            which,
            resets_at_ms: self.zone.next_day_start_ms(self.day),
        };
        let over = |limit: Option<u64>, spent: u64, reserved: u64, more: u64| {
            limit.is_some_and(|limit| spent.saturating_add(reserved).saturating_add(more) > limit)
        };
        if over(
            self.limit_tokens,
            self.spent_tokens,
            self.reserved_tokens,
            tokens,
        ) {
            return Err(refuse(BudgetKind::Tokens));
        }
        if over(
            self.limit_micro_usd,
            self.spent_micro_usd,
            self.reserved_micro_usd,
            micro_usd,
        ) {
            return Err(refuse(BudgetKind::Usd));
        }
        Ok(())
    }

    /// Reserve the worst case of request `id`. Reserving an id that is already known is
    /// accepted without counting it twice (a retried call).
    pub fn reserve(
        &mut self,
        id: &str,
        tokens: u64,
        micro_usd: u64,
        now_ms: u64,
    ) -> Result<(), BudgetRefusal> {
        self.maintain(now_ms);
        if self.reservations.contains_key(id) {
            return Ok(());
        }
        self.check(tokens, micro_usd, now_ms)?;
        if let Some(lease) = &mut self.lease {
            if lease.available() < micro_usd {
                return Err(BudgetRefusal {
                    which: BudgetKind::Deployment,
                    resets_at_ms: self.zone.next_day_start_ms(self.day),
                });
            }
            lease.used += micro_usd;
        }
        self.reserved_tokens += tokens;
        self.reserved_micro_usd += micro_usd;
        self.changes.document = true;
        self.changes.reservations.push(id.to_string());
        self.reservations.insert(
            id.to_string(),
            Reservation {
                tokens,
                micro_usd,
                created_ms: now_ms,
                charged_day: None,
            },
        );
        Ok(())
    }

    /// Adds to the live reservation of request `id` (the request is about to try another
    /// upstream key after one that may have billed it), if the user's limits and lease still
    /// cover it; the reservation is renewed too. Nothing changes on a refusal.
    pub fn grow(
        &mut self,
        id: &str,
        tokens: u64,
        micro_usd: u64,
        now_ms: u64,
    ) -> Result<(), BudgetRefusal> {
        self.maintain(now_ms);
        let resets_at_ms = self.zone.next_day_start_ms(self.day);
        let refuse = |which| BudgetRefusal {
            which,
            resets_at_ms,
        };
        if !self.reservations.get(id).is_some_and(Reservation::live) {
            return Err(refuse(BudgetKind::Tokens));
        }
        self.check(tokens, micro_usd, now_ms)?;
        if let Some(lease) = &mut self.lease {
            if lease.available() < micro_usd {
                return Err(refuse(BudgetKind::Deployment));
            }
            lease.used += micro_usd;
        }
        self.reserved_tokens += tokens;
        self.reserved_micro_usd += micro_usd;
        if let Some(reservation) = self.reservations.get_mut(id) {
            reservation.tokens += tokens;
            reservation.micro_usd += micro_usd;
            reservation.created_ms = now_ms;
        }
        self.changes.document = true;
        self.changes.reservations.push(id.to_string());
        Ok(())
    }

    /// The request `id` is still running: its reservation lives another TTL from now. A
    /// reservation already charged at expiry stays charged until its settle replaces it.
    pub fn renew(&mut self, id: &str, now_ms: u64) -> bool {
        self.maintain(now_ms);
        match self.reservations.get_mut(id) {
            Some(reservation) if reservation.live() => {
                reservation.created_ms = now_ms;
                self.changes.reservations.push(id.to_string());
                true
            }
            _ => false,
        }
    }

    /// Replace reservation `id` by the metered usage. May exceed the reservation (recorded
    /// truthfully; see "Overrun" in the module doc).
    pub fn settle(
        &mut self,
        id: &str,
        actual_tokens: u64,
        actual_micro_usd: u64,
        now_ms: u64,
    ) -> Settlement {
        self.maintain(now_ms);
        let settlement = match self.take_reservation(id) {
            Some(reservation) if reservation.live() => Settlement::Settled {
                reserved_micro_usd: reservation.micro_usd,
            },
            Some(charged) => {
                self.refund_charge(&charged);
                Settlement::Late
            }
            None => Settlement::Unknown,
        };
        self.spend(actual_tokens, actual_micro_usd);
        settlement
    }

    /// Free reservation `id` without usage (failure or cancel before any output). Idempotent.
    /// A reservation charged at expiry gets its charge back.
    pub fn release(&mut self, id: &str, now_ms: u64) {
        self.maintain(now_ms);
        if let Some(charged) = self.take_reservation(id).filter(|r| !r.live()) {
            self.refund_charge(&charged);
        }
    }

    /// Takes back what expiry charged for `reservation`, if it was charged today, and from the
    /// month's totals if charged this month (a past period's spend is gone with it).
    fn refund_charge(&mut self, reservation: &Reservation) {
        let Some(charged_day) = reservation.charged_day else {
            return;
        };
        if month_of_day(charged_day) == self.month {
            self.changes.document = true;
            self.month_spent_tokens = self.month_spent_tokens.saturating_sub(reservation.tokens);
            self.month_spent_micro_usd = self
                .month_spent_micro_usd
                .saturating_sub(reservation.micro_usd);
        }
        if charged_day != self.day {
            return;
        }
        self.changes.document = true;
        self.spent_tokens = self.spent_tokens.saturating_sub(reservation.tokens);
        self.spent_micro_usd = self.spent_micro_usd.saturating_sub(reservation.micro_usd);
        if let Some(lease) = &mut self.lease {
            lease.used = lease.used.saturating_sub(reservation.micro_usd);
        }
    }

    /// How much to ask the deployment for before reserving `micro_usd`, if the lease is short.
    /// At least the shortfall, up to a slice, but never more than the user may still spend.
    pub fn lease_request(&mut self, micro_usd: u64, now_ms: u64) -> Option<u64> {
        self.maintain(now_ms);
        let lease = self.lease?;
        let available = lease.available();
        if available >= micro_usd {
            return None;
        }
        let shortfall = micro_usd - available + lease.used.saturating_sub(lease.granted);
        let mut ask = shortfall.max(self.lease_slice_micro_usd);
        if let Some(limit) = self.limit_micro_usd {
            let user_room = limit.saturating_sub(self.spent_micro_usd + self.reserved_micro_usd);
            ask = ask.min(user_room.max(shortfall));
        }
        Some(ask)
    }

    /// Record a grant from the deployment budget.
    pub fn add_lease(&mut self, granted_micro_usd: u64, now_ms: u64) {
        self.maintain(now_ms);
        if let Some(lease) = &mut self.lease {
            lease.granted = lease.granted.saturating_add(granted_micro_usd);
            self.changes.document |= granted_micro_usd > 0;
        }
    }

    /// Remove the unused lease above `keep_micro_usd` and return it, to pass to
    /// [`DeploymentBudget::give_back`].
    pub fn take_lease_surplus(&mut self, keep_micro_usd: u64, now_ms: u64) -> u64 {
        self.maintain(now_ms);
        let Some(lease) = &mut self.lease else {
            return 0;
        };
        let surplus = lease.available().saturating_sub(keep_micro_usd);
        lease.granted -= surplus;
        self.changes.document |= surplus > 0;
        surplus
    }

    /// Lease above `keep_micro_usd` to give back once nothing is in flight (called after a
    /// settle). Without it every user who ever chatted kept a whole slice for the rest of the
    /// day, so `cap / slice` users locked everyone else out of a mostly unspent budget.
    pub fn idle_lease_surplus(&mut self, keep_micro_usd: u64, now_ms: u64) -> u64 {
        self.maintain(now_ms);
        if self.reservations.values().any(Reservation::live) {
            return 0;
        }
        self.take_lease_surplus(keep_micro_usd, now_ms)
    }

    /// Whether the lease (if this budget draws on one) covers a reservation of `micro_usd`.
    pub fn lease_covers(&mut self, micro_usd: u64, now_ms: u64) -> bool {
        self.maintain(now_ms);
        self.lease
            .is_none_or(|lease| lease.available() >= micro_usd)
    }

    /// When today's budget resets.
    pub fn resets_at_ms(&self) -> u64 {
        self.zone.next_day_start_ms(self.day)
    }

    /// Unused lease held now.
    pub fn lease_available(&self) -> u64 {
        self.lease.map_or(0, |lease| lease.available())
    }

    pub fn usage(&mut self, now_ms: u64) -> BudgetUsage {
        self.maintain(now_ms);
        BudgetUsage {
            day: self.day,
            spent_tokens: self.spent_tokens,
            spent_micro_usd: self.spent_micro_usd,
            reserved_tokens: self.reserved_tokens,
            reserved_micro_usd: self.reserved_micro_usd,
            limit_tokens: self.limit_tokens,
            limit_micro_usd: self.limit_micro_usd,
            resets_at_ms: self.zone.next_day_start_ms(self.day),
            month: self.month,
            month_spent_tokens: self.month_spent_tokens,
            month_spent_micro_usd: self.month_spent_micro_usd,
            month_resets_at_ms: self.zone.next_month_start_ms(self.month),
        }
    }

    /// Roll the day and expire stale reservations; every public method starts here.
    fn maintain(&mut self, now_ms: u64) {
        let today = self.zone.day(now_ms);
        let this_month = month_of_day(today);
        if self.month == 0 {
            // A document from before months were counted: the month so far is what is known
            // of it, today's spend.
            self.changes.document = true;
            self.month = month_of_day(self.day);
            self.month_spent_tokens = self.spent_tokens;
            self.month_spent_micro_usd = self.spent_micro_usd;
        }
        if this_month > self.month {
            self.changes.document = true;
            self.month = this_month;
            self.month_spent_tokens = 0;
            self.month_spent_micro_usd = 0;
        }
        if today > self.day {
            self.changes.document = true;
            self.day = today;
            self.spent_tokens = 0;
            self.spent_micro_usd = 0;
            // Yesterday's lease is void (the deployment object resets too). In-flight
            // reservations carry over, so they are owed against today's lease first.
            if let Some(lease) = &mut self.lease {
                lease.granted = 0;
                lease.used = self.reserved_micro_usd;
            }
        }
        // A reservation nobody renewed for a whole TTL belongs to a request whose isolate
        // died: charge it in full (its upstream may have generated all of it). A charged one is
        // forgotten after a day, when no settle can still be on its way.
        let ttl = self.ttl_ms;
        let mut expired = Vec::new();
        let mut forgotten = Vec::new();
        for (id, reservation) in &self.reservations {
            if reservation.live() {
                if reservation.created_ms.saturating_add(ttl) <= now_ms {
                    expired.push(id.clone());
                }
            } else if reservation
                .created_ms
                .saturating_add(ttl + CHARGED_MEMORY_MS)
                <= now_ms
            {
                forgotten.push(id.clone());
            }
        }
        for id in expired {
            if let Some(mut reservation) = self.take_reservation(&id) {
                self.spend(reservation.tokens, reservation.micro_usd);
                reservation.charged_day = Some(today);
                self.reservations.insert(id, reservation);
            }
        }
        for id in forgotten {
            self.reservations.remove(&id);
            self.changes.reservations.push(id);
        }
    }

    /// Removes reservation `id`; a live one stops counting as reserved.
    fn take_reservation(&mut self, id: &str) -> Option<Reservation> {
        let reservation = self.reservations.remove(id)?;
        self.changes.document = true;
        self.changes.reservations.push(id.to_string());
        if reservation.live() {
            self.reserved_tokens = self.reserved_tokens.saturating_sub(reservation.tokens);
            self.reserved_micro_usd = self
                .reserved_micro_usd
                .saturating_sub(reservation.micro_usd);
            if let Some(lease) = &mut self.lease {
                lease.used = lease.used.saturating_sub(reservation.micro_usd);
            }
        }
        Some(reservation)
    }

    fn spend(&mut self, tokens: u64, micro_usd: u64) {
        self.changes.document = true;
        self.spent_tokens = self.spent_tokens.saturating_add(tokens);
        self.spent_micro_usd = self.spent_micro_usd.saturating_add(micro_usd);
        self.month_spent_tokens = self.month_spent_tokens.saturating_add(tokens);
        self.month_spent_micro_usd = self.month_spent_micro_usd.saturating_add(micro_usd);
        if let Some(lease) = &mut self.lease {
            lease.used = lease.used.saturating_add(micro_usd);
        }
    }
}

/// The deployment-wide daily cap, handed out as leases (see the module doc). Lives in one
/// Durable Object that user objects call only to top up or give back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentBudget {
    day: u32,
    /// `None`: unlimited.
    cap_micro_usd: Option<u64>,
    /// Net granted today: grants minus give-backs.
    granted_micro_usd: u64,
    /// Net granted today per requester, so a give-back can never return more than was granted.
    holders: BTreeMap<String, u64>,
    /// Net granted today to guests' objects (`[guest_pool] daily_usd` bounds it), and which
    /// requesters are guests, so their give-backs return to the guests' share.
    #[serde(default)]
    guests_granted_micro_usd: u64,
    #[serde(default)]
    guests: std::collections::BTreeSet<String>,
}

impl DeploymentBudget {
    pub fn new(cap_micro_usd: Option<u64>, now_ms: u64) -> DeploymentBudget {
        DeploymentBudget {
            day: utc_day(now_ms),
            cap_micro_usd,
            granted_micro_usd: 0,
            holders: BTreeMap::new(),
            guests_granted_micro_usd: 0,
            guests: std::collections::BTreeSet::new(),
        }
    }

    /// A new cap (config change). Lowering it below what is granted stops new grants; leases
    /// out already are not recalled.
    pub fn set_cap(&mut self, cap_micro_usd: Option<u64>) {
        self.cap_micro_usd = cap_micro_usd;
    }

    /// Grant up to `want_micro_usd` to `requester_id`; returns the amount granted (0 when the
    /// day's cap is used up). Never lets the day's net grants exceed the cap.
    pub fn grant(&mut self, requester_id: &str, want_micro_usd: u64, now_ms: u64) -> u64 {
        self.grant_within(requester_id, want_micro_usd, None, now_ms)
    }

    /// Like [`DeploymentBudget::grant`], for a guest's object: guests together never hold
    /// more than `guests_cap_micro_usd` (`None`: only the deployment cap applies), so guests
    /// cannot lock employees out of the deployment budget.
    pub fn grant_guest(
        &mut self,
        requester_id: &str,
        want_micro_usd: u64,
        guests_cap_micro_usd: Option<u64>,
        now_ms: u64,
    ) -> u64 {
        // Roll the day first: the rollover forgets who the guests are.
        self.maintain(now_ms);
        self.guests.insert(requester_id.to_string());
        let cap = Some(guests_cap_micro_usd.unwrap_or(u64::MAX));
        self.grant_within(requester_id, want_micro_usd, cap, now_ms)
    }

    fn grant_within(
        &mut self,
        requester_id: &str,
        want_micro_usd: u64,
        guests_cap_micro_usd: Option<u64>,
        now_ms: u64,
    ) -> u64 {
        self.maintain(now_ms);
        let mut granted = match self.cap_micro_usd {
            None => want_micro_usd,
            Some(cap) => want_micro_usd.min(cap.saturating_sub(self.granted_micro_usd)),
        };
        if let Some(guests_cap) = guests_cap_micro_usd {
            granted = granted.min(guests_cap.saturating_sub(self.guests_granted_micro_usd));
            self.guests_granted_micro_usd = self.guests_granted_micro_usd.saturating_add(granted);
        }
        if granted > 0 {
            self.granted_micro_usd = self.granted_micro_usd.saturating_add(granted);
            let held = self.holders.entry(requester_id.to_string()).or_insert(0);
            *held = held.saturating_add(granted);
        }
        granted
    }

    /// Net granted today to guests.
    pub fn guests_granted(&mut self, now_ms: u64) -> u64 {
        self.maintain(now_ms);
        self.guests_granted_micro_usd
    }

    /// Take back unused lease; returns the amount accepted (at most what that requester holds
    /// today, so a confused or replayed call cannot inflate the budget).
    pub fn give_back(&mut self, requester_id: &str, micro_usd: u64, now_ms: u64) -> u64 {
        self.maintain(now_ms);
        let Some(held) = self.holders.get_mut(requester_id) else {
            return 0;
        };
        let accepted = micro_usd.min(*held);
        *held -= accepted;
        if self.guests.contains(requester_id) {
            self.guests_granted_micro_usd = self.guests_granted_micro_usd.saturating_sub(accepted);
        }
        if *held == 0 {
            self.holders.remove(requester_id);
        }
        self.granted_micro_usd = self.granted_micro_usd.saturating_sub(accepted);
        accepted
    }

    /// What can still be granted today; `None` when unlimited.
    pub fn remaining(&mut self, now_ms: u64) -> Option<u64> {
        self.maintain(now_ms);
        self.cap_micro_usd
            .map(|cap| cap.saturating_sub(self.granted_micro_usd))
    }

    /// Net granted today.
    pub fn granted(&mut self, now_ms: u64) -> u64 {
        self.maintain(now_ms);
        self.granted_micro_usd
    }

    fn maintain(&mut self, now_ms: u64) {
        let today = utc_day(now_ms);
        if today > self.day {
            self.day = today;
            self.granted_micro_usd = 0;
            self.holders.clear();
            self.guests_granted_micro_usd = 0;
            self.guests.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_763_596_800_000; // 2025-11-20T00:00:00Z

    #[test]
    fn twenty_concurrent_reservations_against_room_for_five() {
        let mut budget = Budget::new(Some(5_000), None, NOW);
        let admitted = (0..20)
            .filter(|index| budget.reserve(&format!("r{index}"), 1_000, 0, NOW).is_ok())
            .count();
        assert_eq!(admitted, 5);
        let refusal = budget.reserve("late", 1, 0, NOW);
        assert_eq!(
            refusal,
            Err(BudgetRefusal {
                which: BudgetKind::Tokens,
                resets_at_ms: NOW + DAY_MS
            })
        );
    }

    #[test]
    fn usd_limit_refuses_by_micro_usd() {
        let mut budget = Budget::new(None, Some(100_000), NOW);
        assert_eq!(budget.reserve("a", 10, 60_000, NOW), Ok(()));
        assert_eq!(
            budget
                .reserve("b", 10, 40_001, NOW)
                .map_err(|refusal| refusal.which),
            Err(BudgetKind::Usd)
        );
        assert_eq!(budget.reserve("b", 10, 40_000, NOW), Ok(()));
    }

    #[test]
    fn settling_lower_frees_room() {
        let mut budget = Budget::new(Some(3_000), None, NOW);
        assert_eq!(budget.reserve("a", 2_000, 0, NOW), Ok(()));
        assert!(budget.reserve("b", 2_000, 0, NOW).is_err());
        assert_eq!(
            budget.settle("a", 500, 0, NOW),
            Settlement::Settled {
                reserved_micro_usd: 0
            }
        );
        assert_eq!(budget.reserve("b", 2_000, 0, NOW), Ok(()));
        assert_eq!(budget.usage(NOW).spent_tokens, 500);
    }

    #[test]
    fn settle_and_release_are_idempotent() {
        let mut budget = Budget::new(Some(10_000), None, NOW);
        assert_eq!(budget.reserve("a", 1_000, 0, NOW), Ok(()));
        assert_eq!(
            budget.reserve("a", 1_000, 0, NOW),
            Ok(()),
            "retried reserve"
        );
        assert_eq!(budget.usage(NOW).reserved_tokens, 1_000);
        budget.settle("a", 700, 0, NOW);
        budget.release("a", NOW);
        assert_eq!(budget.usage(NOW).spent_tokens, 700);
        assert_eq!(budget.reserve("b", 1_000, 0, NOW), Ok(()));
        budget.release("b", NOW);
        budget.release("b", NOW);
        budget.release("never", NOW);
        let usage = budget.usage(NOW);
        assert_eq!((usage.spent_tokens, usage.reserved_tokens), (700, 0));
    }

    #[test]
    fn a_settle_is_never_dropped() {
        let mut budget = Budget::new(Some(10_000), None, NOW);
        // No reservation known (its memory is gone, or it was never made here): still charged.
        assert_eq!(budget.settle("never", 5, 5, NOW), Settlement::Unknown);
        assert_eq!(budget.usage(NOW).spent_tokens, 5);
    }

    #[test]
    fn overrun_is_recorded_truthfully() {
        let mut budget = Budget::new(Some(1_000), Some(1_000), NOW);
        assert_eq!(budget.reserve("a", 800, 800, NOW), Ok(()));
        budget.settle("a", 1_200, 1_300, NOW);
        let usage = budget.usage(NOW);
        assert_eq!((usage.spent_tokens, usage.spent_micro_usd), (1_200, 1_300));
        assert!(
            budget.reserve("b", 1, 0, NOW).is_err(),
            "over the limit: refused"
        );
    }

    #[test]
    fn day_rollover_resets_spend_and_carries_in_flight() {
        let evening = NOW + DAY_MS - 120_000; // two minutes before midnight
        let mut budget = Budget::new(Some(1_000), None, evening);
        assert_eq!(budget.reserve("a", 600, 0, evening), Ok(()));
        budget.settle("a", 600, 0, evening);
        assert_eq!(budget.reserve("b", 300, 0, evening + 1), Ok(()));
        assert!(budget.reserve("c", 300, 0, evening + 2).is_err());
        // Midnight: 600 spent is forgotten; "b" (300) is still in flight and counts today.
        let tomorrow = NOW + DAY_MS + 1;
        assert_eq!(budget.reserve("c", 700, 0, tomorrow), Ok(()));
        assert!(budget.reserve("d", 1, 0, tomorrow).is_err());
        budget.settle("b", 250, 0, tomorrow);
        let usage = budget.usage(tomorrow);
        assert_eq!(usage.spent_tokens, 250, "settled into the new day");
        assert_eq!(usage.resets_at_ms, NOW + 2 * DAY_MS);
    }

    #[test]
    fn the_month_counts_every_day_of_it_and_resets_on_the_first() {
        // NOW is 2025-11-20 (UTC): spend on two days of November, then on December 1st.
        let mut budget = Budget::new(Some(10_000), Some(10_000), NOW);
        budget.settle("a", 100, 10, NOW);
        budget.settle("b", 200, 20, NOW + DAY_MS);
        let usage = budget.usage(NOW + DAY_MS);
        assert_eq!((usage.spent_tokens, usage.month_spent_tokens), (200, 300));
        assert_eq!(usage.month_spent_micro_usd, 30);
        let december = NOW + 11 * DAY_MS; // 2025-12-01T00:00:00Z
        assert_eq!(usage.month_resets_at_ms, december);
        budget.settle("c", 5, 1, december);
        let usage = budget.usage(december);
        assert_eq!((usage.spent_tokens, usage.month_spent_tokens), (5, 5));
    }

    #[test]
    fn a_late_settle_corrects_the_month_too() {
        let mut budget = Budget::new(None, None, NOW).with_ttl(1_000);
        assert_eq!(budget.reserve("a", 600, 60, NOW), Ok(()));
        // Charged in full at expiry, then settled for less the next day: the day's totals
        // no longer hold the charge, the month's are corrected.
        let _ = budget.usage(NOW + 1_000);
        assert_eq!(budget.settle("a", 100, 10, NOW + DAY_MS), Settlement::Late);
        let usage = budget.usage(NOW + DAY_MS);
        assert_eq!((usage.spent_tokens, usage.month_spent_tokens), (100, 100));
        assert_eq!(usage.month_spent_micro_usd, 10);
    }

    #[test]
    fn unrenewed_reservations_are_charged_in_full_and_late_settles_replace_the_charge() {
        let mut budget = Budget::new(Some(1_000), None, NOW);
        assert_eq!(budget.reserve("dead", 600, 0, NOW), Ok(()));
        let later = NOW + DEFAULT_RESERVATION_TTL_MS;
        // Expired unrenewed: charged, so it still blocks what it held.
        assert!(budget.reserve("x", 500, 0, later).is_err());
        let usage = budget.usage(later);
        assert_eq!((usage.spent_tokens, usage.reserved_tokens), (600, 0));
        assert_eq!(budget.settle("dead", 400, 0, later + 1), Settlement::Late);
        assert_eq!(budget.usage(later + 1).spent_tokens, 400);
        // Known no more: a second settle is charged as it stands, never dropped.
        assert_eq!(
            budget.settle("dead", 400, 0, later + 2),
            Settlement::Unknown
        );
        assert_eq!(budget.usage(later + 3).spent_tokens, 800);
    }

    #[test]
    fn renewed_reservations_live_as_long_as_their_request_streams_after_the_ttl() {
        // The review's case: TTL 60 s, 100-second streams, limit 250.
        let ttl = 60_000;
        let mut budget = Budget::new(Some(250), None, NOW).with_ttl(ttl);
        assert_eq!(budget.reserve("a", 108, 0, NOW), Ok(()));
        assert_eq!(budget.reserve("b", 108, 0, NOW), Ok(()));
        for second in (20..=100).step_by(20) {
            let now = NOW + second * 1_000;
            assert!(budget.renew("a", now) && budget.renew("b", now));
            assert!(budget
                .reserve(&format!("late{second}"), 108, 0, now)
                .is_err());
        }
        budget.settle("a", 108, 0, NOW + 100_000);
        budget.settle("b", 108, 0, NOW + 100_000);
        assert_eq!(budget.usage(NOW + 100_001).spent_tokens, 216);
    }

    #[test]
    fn a_reservation_grows_for_another_attempt_only_within_the_limits() {
        let mut budget = Budget::new(Some(1_000), None, NOW);
        assert_eq!(budget.reserve("a", 600, 0, NOW), Ok(()));
        assert_eq!(budget.grow("a", 300, 0, NOW), Ok(()));
        assert_eq!(budget.usage(NOW).reserved_tokens, 900);
        assert!(budget.grow("a", 101, 0, NOW).is_err());
        assert!(budget.grow("unknown", 1, 0, NOW).is_err());
        assert_eq!(budget.usage(NOW).reserved_tokens, 900);
        budget.settle("a", 850, 0, NOW);
        let usage = budget.usage(NOW);
        assert_eq!((usage.spent_tokens, usage.reserved_tokens), (850, 0));
    }

    #[test]
    fn charged_reservations_are_forgotten_after_a_day_and_release_refunds_them() {
        let mut budget = Budget::new(None, None, NOW).with_ttl(1_000);
        assert_eq!(budget.reserve("a", 10, 10, NOW), Ok(()));
        assert_eq!(budget.reserve("b", 10, 10, NOW), Ok(()));
        assert_eq!(budget.usage(NOW + 1_000).spent_tokens, 20);
        budget.release("b", NOW + 1_001);
        assert_eq!(budget.usage(NOW + 1_001).spent_tokens, 10);
        let _ = budget.usage(NOW + 1_000 + CHARGED_MEMORY_MS);
        assert_eq!(budget.reservations().count(), 0);
    }

    #[test]
    fn deployment_never_over_grants() {
        let mut deployment = DeploymentBudget::new(Some(1_000_000), NOW);
        let mut state: u64 = 7;
        let mut held: BTreeMap<String, u64> = BTreeMap::new();
        for step in 0..10_000u64 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let requester = format!("user{}", (state >> 33) % 50);
            let amount = (state >> 20) % 200_000;
            if (state >> 60).is_multiple_of(3) {
                let holding = held.get(&requester).copied().unwrap_or(0);
                let returned = deployment.give_back(&requester, amount, NOW + step);
                assert!(returned <= holding);
                held.insert(requester, holding - returned);
            } else {
                let granted = deployment.grant(&requester, amount, NOW + step);
                *held.entry(requester).or_insert(0) += granted;
            }
            let outstanding: u64 = held.values().sum();
            assert!(outstanding <= 1_000_000, "granted {outstanding}");
            assert_eq!(deployment.granted(NOW + step), outstanding);
        }
        assert_eq!(deployment.give_back("stranger", 5, NOW), 0);
    }

    #[test]
    fn guests_never_hold_more_than_their_share_and_employees_keep_the_rest() {
        // The review's case: a 1 USD cap, ten slow guest streams, then an employee.
        let mut deployment = DeploymentBudget::new(Some(1_000_000), NOW);
        let guests_cap = Some(300_000);
        let mut guests_total = 0;
        for guest in 0..10 {
            guests_total += deployment.grant_guest(&format!("g{guest}"), 200_000, guests_cap, NOW);
        }
        assert_eq!(guests_total, 300_000);
        assert_eq!(deployment.grant("employee", 500_000, NOW), 500_000);
        // A guest's give-back returns to the guests' share.
        assert_eq!(deployment.give_back("g0", 200_000, NOW), 200_000);
        assert_eq!(deployment.guests_granted(NOW), 100_000);
        assert_eq!(
            deployment.grant_guest("g5", 500_000, guests_cap, NOW),
            200_000
        );
        // A guest pool without its own USD share still draws only on the deployment cap.
        let mut open = DeploymentBudget::new(None, NOW);
        assert_eq!(open.grant_guest("g", 7, None, NOW), 7);
    }

    #[test]
    fn deployment_resets_daily_and_unlimited_grants_all() {
        let mut deployment = DeploymentBudget::new(Some(100), NOW);
        assert_eq!(deployment.grant("a", 80, NOW), 80);
        assert_eq!(deployment.grant("b", 80, NOW), 20);
        assert_eq!(deployment.grant("b", 80, NOW), 0);
        assert_eq!(deployment.remaining(NOW + DAY_MS), Some(100));
        assert_eq!(
            deployment.give_back("a", 80, NOW + DAY_MS),
            0,
            "yesterday's lease is void"
        );
        let mut unlimited = DeploymentBudget::new(None, NOW);
        assert_eq!(unlimited.grant("a", u64::MAX, NOW), u64::MAX);
        assert_eq!(unlimited.remaining(NOW), None);
    }

    /// The whole flow from the module doc: many users, one deployment cap, random traffic and
    /// settles; total spend never passes the cap because no reservation overruns.
    #[test]
    fn leased_users_cannot_overspend_the_deployment() {
        let cap = 2_000_000;
        let mut deployment = DeploymentBudget::new(Some(cap), NOW);
        let mut users: Vec<Budget> = (0..8)
            .map(|_| Budget::new(None, Some(1_000_000), NOW).with_lease(300_000))
            .collect();
        let mut in_flight: Vec<(usize, String, u64)> = Vec::new();
        let mut state: u64 = 99;
        let mut refused_for_deployment = 0;
        for step in 0..5_000u64 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let now = NOW + step;
            let user = ((state >> 33) % 8) as usize;
            if (state >> 61).is_multiple_of(2) || in_flight.is_empty() {
                let cost = 1_000 + (state >> 20) % 60_000;
                let id = format!("req{step}");
                let budget = &mut users[user];
                if budget.check(100, cost, now).is_err() {
                    continue;
                }
                if let Some(ask) = budget.lease_request(cost, now) {
                    let granted = deployment.grant(&format!("u{user}"), ask, now);
                    budget.add_lease(granted, now);
                }
                match budget.reserve(&id, 100, cost, now) {
                    Ok(()) => in_flight.push((user, id, cost)),
                    Err(refusal) => {
                        assert_eq!(refusal.which, BudgetKind::Deployment);
                        refused_for_deployment += 1;
                        let surplus = budget.take_lease_surplus(0, now);
                        assert_eq!(
                            deployment.give_back(&format!("u{user}"), surplus, now),
                            surplus
                        );
                    }
                }
            } else {
                let index = ((state >> 20) as usize) % in_flight.len();
                let (user, id, cost) = in_flight.swap_remove(index);
                let actual = cost * ((state >> 40) % 101) / 100;
                users[user].settle(&id, 50, actual, now);
            }
            let spent: u64 = users
                .iter_mut()
                .map(|budget| budget.usage(now).spent_micro_usd)
                .sum();
            let reserved: u64 = users
                .iter_mut()
                .map(|budget| budget.usage(now).reserved_micro_usd)
                .sum();
            assert!(
                spent + reserved <= cap,
                "step {step}: {spent} + {reserved} > {cap}"
            );
            let held: u64 = users
                .iter()
                .map(|budget| budget.lease.map_or(0, |lease| lease.granted))
                .sum();
            assert_eq!(held, deployment.granted(now), "leases add up");
        }
        assert!(refused_for_deployment > 0, "the test reached the cap");
    }

    #[test]
    fn lease_request_asks_a_slice_but_not_beyond_the_user_room() {
        let mut budget = Budget::new(None, Some(100_000), NOW).with_lease(500_000);
        assert_eq!(
            budget.lease_request(10_000, NOW),
            Some(100_000),
            "user room caps the ask"
        );
        budget.add_lease(100_000, NOW);
        assert_eq!(budget.lease_request(10_000, NOW), None);
        assert_eq!(budget.reserve("a", 1, 10_000, NOW), Ok(()));
        assert_eq!(budget.lease_available(), 90_000);
        let mut roomy = Budget::new(None, None, NOW).with_lease(500_000);
        assert_eq!(
            roomy.lease_request(2_000_000, NOW),
            Some(2_000_000),
            "at least the need"
        );
        assert_eq!(roomy.lease_request(1, NOW), Some(500_000), "else a slice");
        let mut plain = Budget::new(None, None, NOW);
        assert_eq!(
            plain.lease_request(1, NOW),
            None,
            "no lease needed when unlimited"
        );
        assert_eq!(plain.take_lease_surplus(0, NOW), 0);
    }

    #[test]
    fn lease_rolls_over_with_in_flight_owed() {
        let evening = NOW + DAY_MS - 60_000;
        let mut budget = Budget::new(None, None, evening).with_lease(1_000);
        budget.add_lease(5_000, evening);
        assert_eq!(budget.reserve("a", 1, 3_000, evening), Ok(()));
        let tomorrow = NOW + DAY_MS;
        // Yesterday's grant is void; the 3,000 in flight must be covered by today's lease.
        assert_eq!(budget.lease_request(1_000, tomorrow), Some(4_000));
        budget.add_lease(4_000, tomorrow);
        assert_eq!(budget.reserve("b", 1, 1_000, tomorrow), Ok(()));
        assert_eq!(budget.lease_available(), 0);
    }

    #[test]
    fn state_round_trips_through_its_document_and_reservation_rows() {
        let mut budget = Budget::new(Some(10), Some(10), NOW).with_lease(5);
        budget.add_lease(5, NOW);
        let _ = budget.reserve("a", 1, 1, NOW);
        let document = serde_json::to_string(&budget).unwrap_or_default();
        assert!(
            !document.contains("\"a\""),
            "reservations are rows: {document}"
        );
        let back: Result<Budget, _> = serde_json::from_str(&document);
        let mut back = back.ok();
        if let Some(back) = &mut back {
            back.restore_reservations(
                budget
                    .reservations()
                    .map(|(id, reservation)| (id.to_string(), reservation)),
            );
        }
        assert_eq!(back, Some(budget));
    }

    #[test]
    fn changes_name_the_reservations_touched() {
        let mut budget = Budget::new(Some(1_000), None, NOW);
        assert!(budget.take_changes().document, "a new budget is unsaved");
        assert!(!budget.take_changes().document);
        let _ = budget.check(1, 0, NOW);
        budget.set_limits(Some(1_000), None);
        assert!(!budget.take_changes().document, "a check changes nothing");
        let _ = budget.reserve("a", 10, 0, NOW);
        let _ = budget.reserve("b", 10, 0, NOW);
        budget.settle("a", 5, 0, NOW);
        let changes = budget.take_changes();
        assert!(changes.document);
        assert_eq!(changes.reservations, ["a", "b", "a"]);
        // A stale reservation expiring (charged in full) is a change too, and so is a renewal.
        assert!(budget.renew("b", NOW + 1));
        assert_eq!(budget.take_changes().reservations, ["b"]);
        let _ = budget.usage(NOW + 1 + DEFAULT_RESERVATION_TTL_MS);
        assert_eq!(budget.take_changes().reservations, ["b"]);
    }
}
