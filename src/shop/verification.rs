//! Proof of control of a custom domain: the TXT record `_shopfleet.<hostname>` holding
//! `shopfleet-verify=<token>`, looked up when the owner asks (`POST …/domains/{id}/verify`) and
//! again in the background while the domain is verified.
//!
//! The re-check rule ([`RecheckRule`], defaults in brackets): a verified domain is checked
//! again when its last check is older than `interval` [6 h]; the server's loop looks for such
//! domains every [`RECHECK_TICK`]. A check that finds the record missing (the name does not
//! exist, it has no TXT record, or none holds the token) adds to the domain's run of failures
//! and shows in `last_check_error`; a check that finds it ends the run. A domain stops routing
//! (it becomes unverified, and stops being primary) at the first failure at which its run
//! counts at least `min_failures` [3] checks and began at least `grace` [72 h] ago: with the
//! defaults, a record missing for three days. A check that gets no answer at all (timeout,
//! SERVFAIL: the fault may be ours) is shown in `last_check_error` but neither extends nor ends
//! the run, so a resolver outage never unverifies anything.
//!
//! Instances share the work: each claims due domains by moving their `last_checked_at` in one
//! statement (`FOR UPDATE SKIP LOCKED`), then checks them with no transaction open. An instance
//! that dies meanwhile leaves those domains to the next interval.
//!
//! Rule: nothing but a found record verifies a domain, and nothing but the re-check rule (or
//! the owner's removal) takes verification away.

use std::time::Duration;

use futures::StreamExt;
use uuid::Uuid;

use super::domains::{COLUMNS, DomainRow};
use crate::dns::{TxtAnswer, TxtResolver};
use crate::error::AppResult;
use crate::tenancy::DbPool;

/// How often the server's loop looks for domains due for a re-check.
pub const RECHECK_TICK: Duration = Duration::from_secs(10 * 60);
/// The loop's first look, after start-up (short-lived processes never re-check).
const FIRST_RECHECK_AFTER: Duration = Duration::from_secs(60);
/// Domains checked at once by one instance.
const CONCURRENT_CHECKS: usize = 8;
/// At most this many values found are quoted in an error message.
const QUOTED_VALUES: usize = 5;

/// What one lookup of a domain's record found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The record holds the token.
    Present,
    /// The DNS answered, without the token; the sentence says what it found.
    Missing(String),
    /// No answer could be had; the sentence says why.
    Unavailable(String),
}

/// Looks up the domain's record and says whether it holds the token.
pub async fn check(dns: &TxtResolver, domain: &DomainRow) -> Finding {
    let (name, expected) = (domain.record_name(), domain.record_value());
    match dns.txt(&name).await {
        Ok(answer) => finding(&name, &expected, answer),
        Err(err) => Finding::Unavailable(format!("the DNS lookup of {name} failed: {err}")),
    }
}

fn finding(name: &str, expected: &str, answer: TxtAnswer) -> Finding {
    let values = match answer {
        TxtAnswer::NoSuchName => {
            return Finding::Missing(format!(
                "no TXT record found: {name} does not exist; create it with the value {expected}"
            ));
        }
        TxtAnswer::Values(values) => values,
    };
    if values.iter().any(|value| value.trim() == expected) {
        return Finding::Present;
    }
    if values.is_empty() {
        return Finding::Missing(format!(
            "no TXT record found at {name}; create one with the value {expected}"
        ));
    }
    let mut quoted: Vec<String> = values
        .iter()
        .take(QUOTED_VALUES)
        .map(|value| format!("{:?}", value.chars().take(100).collect::<String>()))
        .collect();
    if values.len() > QUOTED_VALUES {
        quoted.push(format!("and {} more", values.len() - QUOTED_VALUES));
    }
    Finding::Missing(format!(
        "the TXT records at {name} do not hold {expected}; found {}",
        quoted.join(", ")
    ))
}

/// When verified domains are checked again and when a missing record unverifies one (see the
/// module doc). Tests shorten it; the server uses [`RecheckRule::default`].
#[derive(Debug, Clone, Copy)]
pub struct RecheckRule {
    /// A verified domain is due when its last check is older than this.
    pub interval: Duration,
    /// A run of failures must have begun at least this long ago to unverify…
    pub grace: Duration,
    /// …and count at least this many checks.
    pub min_failures: i32,
}

impl Default for RecheckRule {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(6 * 3600),
            grace: Duration::from_secs(72 * 3600),
            min_failures: 3,
        }
    }
}

/// What one pass of [`recheck_due`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecheckReport {
    pub checked: usize,
    /// Checks that found the record missing.
    pub missing: usize,
    /// Checks that got no answer.
    pub unavailable: usize,
    /// Domains that stopped routing.
    pub unverified: usize,
}

/// Checks every verified domain that is due under `rule`, once, and records the outcomes.
pub async fn recheck_due(
    pool: &DbPool,
    dns: &TxtResolver,
    rule: RecheckRule,
) -> AppResult<RecheckReport> {
    // Domains checked during this pass are newer than the cut-off, so none is checked twice
    // (with `interval` zero too).
    let cutoff: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select now() - make_interval(secs => $1)")
            .bind(rule.interval.as_secs_f64())
            .fetch_one(pool)
            .await?;
    let mut report = RecheckReport::default();
    loop {
        let due: Vec<DomainRow> = sqlx::query_as(&format!(
            "update platform.domains set last_checked_at = now() where id in ( \
                 select id from platform.domains \
                 where verified_at is not null and coalesce(last_checked_at, verified_at) <= $1 \
                 order by coalesce(last_checked_at, verified_at) limit 100 \
                 for update skip locked) \
             returning {COLUMNS}"
        ))
        .bind(cutoff)
        .fetch_all(pool)
        .await?;
        if due.is_empty() {
            return Ok(report);
        }
        let findings: Vec<(Uuid, String, Finding)> = futures::stream::iter(due)
            .map(|domain| async move {
                let finding = check(dns, &domain).await;
                (domain.id, domain.hostname, finding)
            })
            .buffer_unordered(CONCURRENT_CHECKS)
            .collect()
            .await;
        for (id, hostname, finding) in findings {
            report.checked += 1;
            match &finding {
                Finding::Present => {}
                Finding::Missing(_) => report.missing += 1,
                Finding::Unavailable(_) => report.unavailable += 1,
            }
            if record_finding(pool, id, &finding, rule).await? {
                report.unverified += 1;
                tracing::warn!(%hostname, "custom domain unverified: its TXT record stayed missing");
            }
        }
    }
}

/// Writes one re-check's outcome; returns whether the domain stopped routing.
async fn record_finding(
    pool: &DbPool,
    id: Uuid,
    finding: &Finding,
    rule: RecheckRule,
) -> AppResult<bool> {
    let query = match finding {
        Finding::Present => sqlx::query(
            "update platform.domains set last_check_error = null, check_failures = 0, \
             failing_since = null where id = $1 and verified_at is not null",
        )
        .bind(id),
        Finding::Unavailable(error) => sqlx::query(
            "update platform.domains set last_check_error = $2 \
             where id = $1 and verified_at is not null",
        )
        .bind(id)
        .bind(error),
        Finding::Missing(error) => {
            // SET expressions read the row as it was: `expired` is decided on the old run.
            let expired = "(check_failures + 1 >= $3 \
                 and coalesce(failing_since, now()) <= now() - make_interval(secs => $4))";
            let unverified: Option<bool> = sqlx::query_scalar(&format!(
                "update platform.domains set last_check_error = $2, \
                 check_failures = check_failures + 1, \
                 failing_since = coalesce(failing_since, now()), \
                 verified_at = case when {expired} then null else verified_at end, \
                 is_primary = is_primary and not {expired} \
                 where id = $1 and verified_at is not null returning verified_at is null"
            ))
            .bind(id)
            .bind(error)
            .bind(rule.min_failures)
            .bind(rule.grace.as_secs_f64())
            .fetch_optional(pool)
            .await?;
            return Ok(unverified.unwrap_or(false));
        }
    };
    query.execute(pool).await?;
    Ok(false)
}

/// Runs for the life of the server: every [`RECHECK_TICK`], re-checks the domains due.
pub async fn recheck_loop(pool: DbPool, dns: TxtResolver) {
    tokio::time::sleep(FIRST_RECHECK_AFTER).await;
    loop {
        match recheck_due(&pool, &dns, RecheckRule::default()).await {
            Ok(report) if report.checked > 0 => {
                tracing::info!(?report, "custom domains re-checked");
            }
            Ok(_) => {}
            Err(err) => tracing::error!(error = %err, "re-checking custom domains failed"),
        }
        tokio::time::sleep(RECHECK_TICK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{Finding, TxtAnswer, finding};

    const NAME: &str = "_shopfleet.www.example.com";
    const EXPECTED: &str = "shopfleet-verify=abc";

    #[test]
    fn only_the_exact_value_verifies_and_misses_say_what_was_found() {
        let values = |v: &[&str]| TxtAnswer::Values(v.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(
            finding(NAME, EXPECTED, values(&["x", " shopfleet-verify=abc "])),
            Finding::Present
        );
        let Finding::Missing(message) = finding(NAME, EXPECTED, values(&["shopfleet-verify=abd"]))
        else {
            panic!("another token must not verify");
        };
        assert!(message.contains("\"shopfleet-verify=abd\""), "{message}");
        let Finding::Missing(message) = finding(NAME, EXPECTED, TxtAnswer::NoSuchName) else {
            panic!("no record");
        };
        assert!(message.contains("does not exist"), "{message}");
        assert!(matches!(finding(NAME, EXPECTED, values(&[])), Finding::Missing(_)));
    }
}
