//! Spend aggregates in Redis, so that `/admin/spend` answers for every
//! replica, not only the one asked. Each settle that served something adds
//! its cost, tokens and one request to a hash per UTC day, in the same script
//! (and under the same settle id) as its counters: a retried settle adds
//! nothing twice. Fields are `team␟key␟model␟` followed by `c` (nano-USD),
//! `p` (prompt tokens), `o` (completion tokens) or `r` (requests).

use super::ledger::{GroupBy, SpendFilter, SpendRow};
use super::redis_store::{RedisQuotaStore, unavailable};
use crate::seams::quota::StoreError;
use std::collections::BTreeMap;

/// Separates the parts of a field; not a character of ids or model names.
const SEP: char = '\u{1f}';

/// What one served request adds to the aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendDelta {
    /// `YYYY-MM-DD` (UTC) of the settle, as the ledger row has it.
    pub day: String,
    pub team: String,
    pub key: String,
    pub model: String,
    pub cost_nano: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl SpendDelta {
    pub fn hash_key(&self) -> String {
        format!("spend:{}", self.day)
    }

    pub fn field_prefix(&self) -> String {
        format!("{}{SEP}{}{SEP}{}{SEP}", self.team, self.key, self.model)
    }
}

/// Spend grouped and filtered as the ledger's `spend` does, from every
/// replica's settles. Two round trips: the days, then their hashes.
pub async fn read(
    store: &RedisQuotaStore,
    by: GroupBy,
    filter: &SpendFilter,
) -> Result<Vec<SpendRow>, StoreError> {
    let mut connection = store.background_connection().await?;
    let days: Vec<String> = redis::cmd("SMEMBERS")
        .arg(store.key("spend:days"))
        .query_async(&mut connection)
        .await
        .map_err(unavailable)?;
    let days: Vec<String> = days
        .into_iter()
        .filter(|day| filter.from_day.as_ref().is_none_or(|from| day >= from))
        .filter(|day| filter.to_day.as_ref().is_none_or(|to| day <= to))
        .collect();
    if days.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for day in &days {
        pipe.cmd("HGETALL").arg(store.key(&format!("spend:{day}")));
    }
    let hashes: Vec<std::collections::HashMap<String, u64>> = pipe
        .query_async(&mut connection)
        .await
        .map_err(unavailable)?;
    Ok(group(days.iter().zip(hashes), by, filter))
}

/// Folds the day hashes into rows, ordered by group as the ledger orders them.
fn group<'a, F: IntoIterator<Item = (String, u64)>>(
    days: impl Iterator<Item = (&'a String, F)>,
    by: GroupBy,
    filter: &SpendFilter,
) -> Vec<SpendRow> {
    let mut rows: BTreeMap<String, SpendRow> = BTreeMap::new();
    for (day, fields) in days {
        for (field, value) in fields {
            let mut parts = field.split(SEP);
            let (Some(team), Some(key), Some(model), Some(measure)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let wanted =
                |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
            if !wanted(&filter.team, team)
                || !wanted(&filter.key, key)
                || !wanted(&filter.model, model)
            {
                continue;
            }
            let group = match by {
                GroupBy::Team => team,
                GroupBy::Key => key,
                GroupBy::Model => model,
                GroupBy::Day => day,
            };
            let row = rows.entry(group.to_owned()).or_insert_with(|| SpendRow {
                group: group.to_owned(),
                requests: 0,
                cost_nano: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
            });
            match measure {
                "c" => row.cost_nano += value,
                "p" => row.prompt_tokens += value,
                "o" => row.completion_tokens += value,
                "r" => row.requests += value,
                _ => {}
            }
        }
    }
    rows.into_values().filter(|row| row.requests > 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(team: &str, key: &str, model: &str, cost: u64) -> Vec<(String, u64)> {
        let prefix = SpendDelta {
            day: String::new(),
            team: team.into(),
            key: key.into(),
            model: model.into(),
            cost_nano: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
        }
        .field_prefix();
        vec![
            (format!("{prefix}c"), cost),
            (format!("{prefix}p"), 10),
            (format!("{prefix}o"), 5),
            (format!("{prefix}r"), 1),
        ]
    }

    #[test]
    fn groups_and_filters_like_the_ledger() {
        let (d1, d2) = ("2026-11-25".to_owned(), "2026-11-26".to_owned());
        let mut day1 = fields("alpha", "k1", "openai/a", 100);
        day1.extend(fields("beta", "k2", "openai/a", 7));
        let day2 = fields("alpha", "k3", "openai/b", 50);
        let days = || vec![(&d1, day1.clone()), (&d2, day2.clone())].into_iter();
        let by_team = group(days(), GroupBy::Team, &SpendFilter::default());
        assert_eq!(
            by_team
                .iter()
                .map(|r| (r.group.as_str(), r.requests, r.cost_nano, r.prompt_tokens))
                .collect::<Vec<_>>(),
            vec![("alpha", 2, 150, 20), ("beta", 1, 7, 10)]
        );
        let alpha_by_day = group(
            days(),
            GroupBy::Day,
            &SpendFilter {
                team: Some("alpha".into()),
                ..SpendFilter::default()
            },
        );
        assert_eq!(
            alpha_by_day
                .iter()
                .map(|r| (r.group.as_str(), r.cost_nano))
                .collect::<Vec<_>>(),
            vec![("2026-11-25", 100), ("2026-11-26", 50)]
        );
        let by_model = group(days(), GroupBy::Model, &SpendFilter::default());
        assert_eq!(by_model[0].group, "openai/a");
        assert_eq!(by_model[0].cost_nano, 107);
    }
}
