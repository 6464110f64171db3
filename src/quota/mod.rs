//! Per-team cost quotas and rate limits that hold exactly: reserve the worst
//! case before a request goes upstream, settle the actual cost after it.
//!
//! - `limits`, `window`: what an operator can limit, and over which window;
//! - `book`: the live table of limits per team, key and end user;
//! - `estimate`: the worst case of one request;
//! - `flat`: charges at a fixed price (a priced tool call) against the budgets;
//! - `seams::quota` (the trait and the in-process store), `redis_store`: counters;
//! - `settler`: Redis settles, batched off the request path;
//! - `redis_spend`: spend aggregates shared by every replica (Redis);
//! - `ledger`: the durable record of settled spend (SQLite);
//! - `refusal`: the 429 and the `x-ratelimit-*` headers.

mod appender;
pub mod book;
pub mod estimate;
pub mod flat;
pub mod ledger;
pub mod limits;
pub mod meter;
pub mod pending;
pub mod redis_spend;
pub mod redis_store;
pub mod refusal;
pub mod settings;
pub mod settler;
pub mod window;

#[cfg(test)]
mod contract;
#[cfg(test)]
mod tests;

use crate::cost::{NanoUsd, PriceTable, Usage};
use crate::error::GatewayError;
use crate::seams::quota::{
    Adjustment, Charge, Entrant, MemoryQuotaStore, QuotaStore, Refused, StoreError,
};
use arc_swap::ArcSwap;
use book::LimitBook;
use estimate::Estimate;
use ledger::{DurableCounter, Ledger, LedgerEntry};
use limits::Limits;
use prometheus_client::metrics::counter::Counter;
use redis_spend::SpendDelta;
use redis_store::{PendingSettle, RedisQuotaStore};
use refusal::{Measure, RateHeader, RateHeaders, Refusal};
use settings::{OnStoreError, QuotaConfig, StoreKind};
use settler::Settler;
use std::sync::Arc;
use std::time::Duration;
use window::{Clock, Window};

/// A concurrency slot left behind by a crashed replica frees itself after this.
const CONCURRENCY_TTL: Duration = Duration::from_secs(15 * 60);

/// Who asks, for what.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub request_id: &'a str,
    pub team: &'a str,
    pub key: &'a str,
    pub user: Option<&'a str>,
    /// The name the client used (per-model limits may name an alias).
    pub public_model: &'a str,
    /// `provider/model`.
    pub model: &'a str,
    pub price: Option<PriceTable>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// Nothing was reserved: no limit applies.
    None,
    Local,
    Shared,
}

/// A hold on every counter a request touches; settled exactly once.
#[derive(Debug)]
#[must_use = "a reservation must be settled"]
pub struct Hold {
    id: String,
    charges: Vec<Charge>,
    measures: Vec<Measure>,
    backend: Backend,
    team: String,
    key: String,
    user: Option<String>,
    model: String,
    price: Option<PriceTable>,
    /// The end user admitted into its team's registry, if any.
    entrant: Option<Entrant>,
    /// A charge at a fixed price (a priced tool call, `flat.rs`): what the
    /// settle charges when it ran, whatever the usage.
    flat: Option<NanoUsd>,
    /// The worst-case cost reserved (zero when the price is unknown).
    pub reserved_cost: NanoUsd,
    /// End streams that spend past `reserved_cost`.
    pub hard_cutoff: bool,
    /// The `x-ratelimit-*` headers for the response.
    pub headers: RateHeaders,
}

impl Hold {
    /// The price settled at: the served target's, once `served_by` was told.
    pub fn price(&self) -> Option<PriceTable> {
        self.price
    }

    /// The target that actually served the request (a fallback may differ
    /// from the route's first): its price is what the settle charges and its
    /// name is what the ledger records. The hold itself covers the worst
    /// case over every target of the route (`estimate::chat_over`), so a
    /// pricier fallback still fits within what was reserved.
    pub fn served_by(&mut self, model: &str, price: Option<PriceTable>) {
        if self.model != model {
            model.clone_into(&mut self.model);
        }
        self.price = price;
    }
}

pub struct Quota {
    book: ArcSwap<LimitBook>,
    local: Arc<MemoryQuotaStore>,
    shared: Option<Arc<RedisQuotaStore>>,
    /// Redis settles, batched off the request path.
    settler: Option<Settler>,
    ledger: Ledger,
    clock: Clock,
    on_store_error: OnStoreError,
    allow_unknown_prices: bool,
    /// End users tracked per team at once.
    max_end_users: u64,
    /// An end user's `usd_total` counter expires after this long without requests.
    end_user_idle_ttl: Duration,
    /// Times the shared store failed (each then handled by the policy).
    pub store_errors: Counter,
    admin_overlay: Option<String>,
    /// When the local counters were last swept of ended windows.
    last_prune_ms: std::sync::atomic::AtomicU64,
}

impl Quota {
    /// Opens the ledger and, for the embedded store, reloads the settled
    /// counters from it. Redis is not contacted until the first request.
    pub fn build(config: &QuotaConfig, clock: Clock) -> Result<Self, String> {
        let path = config
            .ledger
            .as_deref()
            .unwrap_or(std::path::Path::new(":memory:"));
        let (ledger, opened) = Ledger::open(path, config.ledger_full_sync, clock.now_ms())?;
        let shared = match &config.store {
            StoreKind::Embedded => None,
            StoreKind::Redis {
                url,
                prefix,
                timeout,
                hold_ttl,
            } => Some(Arc::new(RedisQuotaStore::new(
                url.expose(),
                prefix,
                *timeout,
                *hold_ttl,
            )?)),
        };
        let store_errors = Counter::default();
        let settler = shared
            .as_ref()
            .map(|shared| Settler::new(shared.clone(), store_errors.clone()));
        let local = Arc::new(MemoryQuotaStore::default());
        // With Redis the shared counters are the truth; the local ones only
        // stand in while it is down, so they start empty.
        if shared.is_none() {
            local.seed(opened.counters);
        }
        Ok(Self {
            book: ArcSwap::from_pointee(LimitBook::from_config(config)),
            local,
            shared,
            settler,
            ledger,
            clock,
            on_store_error: config.on_store_error,
            allow_unknown_prices: config.allow_unknown_prices,
            max_end_users: config.max_end_users,
            end_user_idle_ttl: config.end_user_idle_ttl,
            store_errors,
            admin_overlay: opened.admin_overlay,
            last_prune_ms: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The admin API's saved changes, read once at start-up.
    pub fn saved_admin_overlay(&self) -> Option<&str> {
        self.admin_overlay.as_deref()
    }

    pub fn book(&self) -> Arc<LimitBook> {
        self.book.load_full()
    }

    /// Swap in new limits; requests from now on see them.
    pub fn update_book(&self, change: impl Fn(&mut LimitBook)) {
        self.book.rcu(|current| {
            let mut next = LimitBook::clone(current);
            change(&mut next);
            next
        });
    }

    /// The Redis store, when counters are shared between replicas.
    pub fn shared(&self) -> Option<&Arc<RedisQuotaStore>> {
        self.shared.as_ref()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Stage 4: reserve the worst case against every limit that applies, or
    /// refuse. `estimate` runs only when some limit applies.
    pub async fn reserve(
        &self,
        ask: Ask<'_>,
        estimate: impl FnOnce() -> Estimate,
    ) -> Result<Hold, GatewayError> {
        let book = self.book.load();
        let scopes = book.scopes(ask.team, ask.key, ask.user);
        let mut hold = Hold {
            id: ask.request_id.to_owned(),
            charges: Vec::new(),
            measures: Vec::new(),
            backend: Backend::None,
            team: ask.team.to_owned(),
            key: ask.key.to_owned(),
            user: ask.user.map(str::to_owned),
            model: ask.model.to_owned(),
            price: ask.price,
            entrant: None,
            flat: None,
            reserved_cost: NanoUsd(0),
            hard_cutoff: book.hard_cutoff(ask.team),
            headers: RateHeaders::default(),
        };
        if scopes.iter().all(|scope| scope.limits.is_empty()) {
            return Ok(hold);
        }
        let budgeted = scopes.iter().any(|scope| {
            scope.limits.has_budget_for(ask.public_model) || scope.limits.has_budget_for(ask.model)
        });
        if budgeted && ask.price.is_none() && !self.allow_unknown_prices {
            return Err(GatewayError::Forbidden {
                message: format!(
                    "model `{}` has no price (it or a target it may fall back to), and spend of this team is budgeted: it cannot be served",
                    ask.public_model
                ),
            });
        }
        let estimate = estimate();
        let cost = estimate.cost.unwrap_or_default();
        hold.reserved_cost = cost;
        let now = self.clock.now_ms();
        let mut labels = Vec::new();
        for scope in &scopes {
            let model_limits = scope
                .limits
                .models
                .get(ask.public_model)
                .or_else(|| scope.limits.models.get(ask.model));
            // An end user's total lives while the end user keeps coming back;
            // every other total lives for ever.
            let total_expires_ms = if scope.end_user {
                now.saturating_add(self.end_user_idle_ttl.as_millis() as u64)
            } else {
                0
            };
            let first = hold.charges.len();
            push_charges(
                &mut hold,
                &mut labels,
                &scope.key,
                &scope.label,
                scope.limits,
                now,
                total_expires_ms,
                cost.0,
                estimate.tokens,
            );
            if let Some(limits) = model_limits {
                let key = format!("{}:m:{}", scope.key, ask.model);
                let label = format!("{}, model {}", scope.label, ask.public_model);
                push_charges(
                    &mut hold,
                    &mut labels,
                    &key,
                    &label,
                    limits,
                    now,
                    total_expires_ms,
                    cost.0,
                    estimate.tokens,
                );
            }
            // The end user is tracked as long as any of its counters lives.
            if scope.end_user
                && let Some(user) = ask.user
                && let Some(expires_ms) = hold.charges[first..]
                    .iter()
                    .map(|charge| charge.expires_ms)
                    .max()
            {
                hold.entrant = Some(Entrant {
                    registry: format!("users:t:{}", ask.team),
                    member: user.to_owned(),
                    cap: self.max_end_users,
                    expires_ms,
                });
            }
        }
        if hold.charges.is_empty() {
            return Ok(hold);
        }
        self.hold_in_store(hold, &labels, now).await
    }

    /// Take every charge of `hold` in the store at once (`labels[i]` names
    /// the scope of charge `i` in a refusal), or refuse.
    async fn hold_in_store(
        &self,
        mut hold: Hold,
        labels: &[String],
        now: u64,
    ) -> Result<Hold, GatewayError> {
        let (backend, outcome) = self
            .reserve_in_store(&hold.id, &hold.charges, hold.entrant.as_ref(), now)
            .await?;
        hold.backend = backend;
        match outcome {
            Ok(values) => {
                hold.headers = rate_headers(&hold, &values, now);
                Ok(hold)
            }
            Err(Refused::Full {
                tracked,
                frees_at_ms,
            }) => {
                tracing::warn!(
                    team = %hold.team,
                    tracked,
                    "a new end user was refused: the team tracks quota.max_end_users end users"
                );
                Err(GatewayError::QuotaExceeded(Box::new(Refusal {
                    scope: format!("team {}", hold.team),
                    measure: Measure::EndUsers,
                    limit: self.max_end_users,
                    current: tracked,
                    requested: 1,
                    resets_at_ms: frees_at_ms,
                    now_ms: now,
                })))
            }
            Err(Refused::Limit(tripped)) => {
                let charge = &hold.charges[tripped.index];
                let measure = hold.measures[tripped.index];
                let refusal = Refusal {
                    scope: labels[tripped.index].clone(),
                    measure,
                    limit: charge.limit.unwrap_or(0),
                    current: tripped.current,
                    requested: charge.amount,
                    resets_at_ms: (charge.expires_ms != 0 && measure != Measure::Concurrent)
                        .then_some(charge.expires_ms),
                    now_ms: now,
                };
                Err(GatewayError::QuotaExceeded(Box::new(refusal)))
            }
        }
    }

    async fn reserve_in_store(
        &self,
        hold_id: &str,
        charges: &[Charge],
        entrant: Option<&Entrant>,
        now: u64,
    ) -> Result<(Backend, Result<Vec<u64>, Refused>), GatewayError> {
        if let Some(shared) = &self.shared {
            match shared
                .admit_and_reserve(hold_id, charges, entrant, now)
                .await
            {
                Ok(outcome) => return Ok((Backend::Shared, outcome)),
                Err(error) => {
                    self.store_errors.inc();
                    match self.on_store_error {
                        OnStoreError::FailClosed => {
                            tracing::error!(%error, "quota store unreachable: refusing (on_store_error = fail_closed)");
                            return Err(GatewayError::QuotaUnavailable);
                        }
                        OnStoreError::Local => {
                            tracing::warn!(%error, "quota store unreachable: enforcing limits with local counters (on_store_error = local)");
                        }
                    }
                }
            }
        }
        // Counters of ended windows (and end users no longer tracked) are
        // dropped once a minute, so the maps hold only live ones.
        let last = self
            .last_prune_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if now.saturating_sub(last) >= 60_000
            && self
                .last_prune_ms
                .compare_exchange(
                    last,
                    now,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok()
        {
            self.local.prune(now);
        }
        Ok((
            Backend::Local,
            self.local.admit_and_reserve_now(charges, entrant, now),
        ))
    }

    /// Stage 9: replace the worst case with what was used, and write the
    /// ledger row (before returning, so a crash right after loses nothing).
    /// `usage` is `None` when nothing was served: the hold is released and
    /// no spend recorded. With Redis the counters are settled in the
    /// background (`settler`): the request waits for no Redis round trip here.
    pub async fn settle(&self, hold: Hold, usage: Option<Usage>) {
        let cost = match (hold.flat, hold.price, usage) {
            (Some(flat), _, Some(_)) => flat,
            (None, Some(price), Some(usage)) => price.cost(&usage),
            _ => NanoUsd(0),
        };
        let tokens = usage.map_or(0, |u| u.prompt_tokens + u.completion_tokens);
        let now = self.clock.now_ms();
        let adjustments: Vec<Adjustment> = hold
            .charges
            .iter()
            .zip(&hold.measures)
            .map(|(charge, measure)| Adjustment {
                key: charge.key.clone(),
                reserved: charge.amount,
                actual: match measure {
                    Measure::Usd(_) => cost.0,
                    Measure::TokensPerMinute => tokens,
                    Measure::RequestsPerMinute => 1,
                    Measure::Concurrent | Measure::EndUsers => 0,
                },
                expires_ms: charge.expires_ms,
            })
            .collect();
        if let Some(usage) = usage {
            // The embedded store keeps its settled budget counters in the
            // ledger, in the same transaction as the row.
            // An end user tracked in the registry is kept there too, so a
            // restart still counts it against the team's cap.
            let durable = if hold.backend == Backend::Local && self.shared.is_none() {
                adjustments
                    .iter()
                    .zip(&hold.measures)
                    .filter(|(_, measure)| matches!(measure, Measure::Usd(_)))
                    .map(|(adjustment, _)| DurableCounter {
                        key: adjustment.key.clone(),
                        amount: adjustment.actual,
                        expires_ms: adjustment.expires_ms,
                    })
                    .chain(hold.entrant.iter().map(|entrant| DurableCounter {
                        key: crate::seams::quota::member_record_key(
                            &entrant.registry,
                            &entrant.member,
                        ),
                        amount: 0,
                        expires_ms: entrant.expires_ms,
                    }))
                    .collect()
            } else {
                Vec::new()
            };
            let entry = LedgerEntry {
                id: hold.id.clone(),
                ts_ms: now,
                team: hold.team.clone(),
                key: hold.key.clone(),
                user: hold.user.clone(),
                model: hold.model.clone(),
                cost_nano: cost.0,
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            };
            if let Err(error) = self.ledger.record(entry, durable).await {
                tracing::error!(%error, request_id = %hold.id, "could not write the ledger row");
            }
        }
        let Some(settler) = &self.settler else {
            if hold.backend == Backend::Local {
                self.local.settle_now(&hold.id, &adjustments, now);
            }
            return;
        };
        let spend = usage.map(|usage| SpendDelta {
            day: window::day_of(now),
            team: hold.team.clone(),
            key: hold.key.clone(),
            model: hold.model.clone(),
            cost_nano: cost.0,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        });
        let adjustments = match hold.backend {
            Backend::None => Vec::new(),
            Backend::Shared => adjustments,
            // Served on local counters while Redis was away: settle them, and
            // bring what was used to the shared counters too (no hold there,
            // so the script adds the actual amounts, once, by this settle's
            // id), so the shared budget knows about spend made meanwhile.
            Backend::Local => {
                self.local.settle_now(&hold.id, &adjustments, now);
                if usage.is_none() {
                    return;
                }
                adjustments
                    .into_iter()
                    .map(|adjustment| Adjustment {
                        reserved: 0,
                        ..adjustment
                    })
                    .collect()
            }
        };
        if adjustments.is_empty() && spend.is_none() {
            return;
        }
        settler.push(PendingSettle {
            id: hold.id,
            adjustments,
            spend,
        });
    }

    /// Waits (at most `within`) until every queued Redis settle has landed;
    /// `true` when none is left. Called at shutdown, and by tests that read
    /// the shared counters.
    pub async fn flush_settles(&self, within: Duration) -> bool {
        match &self.settler {
            Some(settler) => settler.flush(within).await,
            None => true,
        }
    }

    /// Waits until every settle so far is in the SQLite ledger file and its
    /// pending file is gone. Called at shutdown, so that the file is
    /// complete for whoever reads it next.
    pub async fn close_ledger(&self) {
        if let Err(error) = self.ledger.close().await {
            tracing::warn!(%error, "the ledger could not fold its pending file; the next start will");
        }
    }

    /// Round trips to Redis (none without it).
    pub fn round_trips(&self) -> Option<&redis_store::RoundTrips> {
        self.shared.as_ref().map(|shared| &shared.round_trips)
    }

    /// Spend grouped by team, key, model or day. With Redis, from the shared
    /// aggregates (every replica's requests); else from this ledger.
    pub async fn spend(
        &self,
        by: ledger::GroupBy,
        filter: ledger::SpendFilter,
    ) -> Result<Vec<ledger::SpendRow>, String> {
        match &self.shared {
            Some(shared) => redis_spend::read(shared, by, &filter)
                .await
                .map_err(|error| error.to_string()),
            None => self.ledger.spend(by, filter).await,
        }
    }

    /// Settled spend of a team, all time, from the ledger.
    pub async fn spent(&self, team: &str) -> NanoUsd {
        let filter = ledger::SpendFilter {
            team: Some(team.to_owned()),
            ..Default::default()
        };
        match self.ledger.spend(ledger::GroupBy::Team, filter).await {
            Ok(rows) => NanoUsd(rows.iter().map(|row| row.cost_nano).sum()),
            Err(error) => {
                tracing::error!(%error, "could not read the ledger");
                NanoUsd(0)
            }
        }
    }

    /// Current values of the budget counters of a scope, for the admin API.
    pub async fn usage_of(
        &self,
        scope_key: &str,
        limits: &Limits,
    ) -> Vec<(Window, NanoUsd, NanoUsd)> {
        let now = self.clock.now_ms();
        let keys: Vec<String> = limits
            .budgets
            .iter()
            .map(|(window, _)| counter_key(Measure::Usd(*window), scope_key, now, 0).0)
            .collect();
        let values = match &self.shared {
            Some(shared) => shared.current(&keys, now).await,
            None => Err(StoreError(String::new())),
        }
        .unwrap_or_else(|_| self.local.current_now(&keys, now));
        limits
            .budgets
            .iter()
            .zip(values)
            .map(|((window, limit), used)| (*window, *limit, NanoUsd(used)))
            .collect()
    }
}

/// `usd:day:t:alpha:1764115200000`, and when that counter's window ends.
/// A total has no window: it expires at `total_expires_ms` (0: never).
fn counter_key(
    measure: Measure,
    scope_key: &str,
    now: u64,
    total_expires_ms: u64,
) -> (String, u64) {
    match measure {
        Measure::Concurrent => (
            format!("conc:{scope_key}"),
            now + CONCURRENCY_TTL.as_millis() as u64,
        ),
        // Not a counter: the registry of a team's end users.
        Measure::EndUsers => (format!("users:{scope_key}"), 0),
        Measure::Usd(Window::Total) => (format!("usd:total:{scope_key}"), total_expires_ms),
        Measure::Usd(window) => {
            let (start, end) = window.bounds(now);
            (format!("{}:{scope_key}:{start}", measure.tag()), end)
        }
        Measure::TokensPerMinute | Measure::RequestsPerMinute => {
            let (start, end) = Window::Minute.bounds(now);
            (format!("{}:{scope_key}:{start}", measure.tag()), end)
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site, each argument named there"
)]
fn push_charges(
    hold: &mut Hold,
    labels: &mut Vec<String>,
    scope_key: &str,
    label: &str,
    limits: &Limits,
    now: u64,
    total_expires_ms: u64,
    cost: u64,
    tokens: u64,
) {
    let mut push = |measure: Measure, amount: u64, limit: u64| {
        let (key, expires_ms) = counter_key(measure, scope_key, now, total_expires_ms);
        hold.charges.push(Charge {
            key,
            amount,
            limit: Some(limit),
            expires_ms,
        });
        hold.measures.push(measure);
        labels.push(label.to_owned());
    };
    for (window, limit) in &limits.budgets {
        push(Measure::Usd(*window), cost, limit.0);
    }
    if let Some(limit) = limits.tokens_per_minute {
        push(Measure::TokensPerMinute, tokens, limit);
    }
    if let Some(limit) = limits.requests_per_minute {
        push(Measure::RequestsPerMinute, 1, limit);
    }
    if let Some(limit) = limits.max_concurrent {
        push(Measure::Concurrent, 1, limit);
    }
}

fn rate_headers(hold: &Hold, values: &[u64], now: u64) -> RateHeaders {
    let mut headers = RateHeaders::default();
    for ((charge, measure), value) in hold.charges.iter().zip(&hold.measures).zip(values) {
        let header = RateHeader {
            limit: charge.limit.unwrap_or(0),
            remaining: charge.limit.unwrap_or(0).saturating_sub(*value),
            reset_ms: charge.expires_ms.saturating_sub(now),
        };
        match measure {
            Measure::RequestsPerMinute => {
                headers.requests = RateHeaders::tighter(headers.requests, header);
            }
            Measure::TokensPerMinute => {
                headers.tokens = RateHeaders::tighter(headers.tokens, header)
            }
            Measure::Usd(_) | Measure::Concurrent | Measure::EndUsers => {}
        }
    }
    headers
}
