//! `shopfleet reindex [--shop SLUG]`: rebuilds search indexes from PostgreSQL.
//!
//! For every live shop (or one): recomputes the PostgreSQL search columns and lexicon of every
//! product (needed once for shops created before tenant migration 0005), and, with
//! MeiliSearch, creates the index with its settings and synonyms, uploads every active product
//! and removes the others. Batches of 200 products, one transaction each.
//!
//! Documents of products that no longer exist (their delete event was dead-lettered during a
//! long outage) are removed too: the ids in the index are read **before** the ids in
//! PostgreSQL, and every indexed id missing from PostgreSQL is deleted ([`strays`]). Product ids
//! are never reused, so an id indexed earlier and absent from the database later was deleted;
//! a product created during the reindex is not in the earlier list, so it is never removed.
//! This is chosen over rebuilding into a fresh index and swapping it in: changes the outbox
//! applies to the live index during a rebuild would be lost by the swap.

use indicatif::{ProgressBar, ProgressStyle};
use uuid::Uuid;

use super::SearchEngine;
use super::document::{load_documents, refresh_search_vector};
use super::load_synonyms;
use crate::tenancy::DbPool;
use crate::tenancy::registry::load_tenants;
use crate::tenancy::{Tenant, TenantTx};

const BATCH: usize = 200;

#[derive(Debug, Default)]
pub struct ReindexReport {
    pub shops: usize,
    pub products: usize,
}

pub async fn reindex(
    pool: &DbPool,
    engine: &dyn SearchEngine,
    only: Option<&str>,
    progress: bool,
) -> anyhow::Result<ReindexReport> {
    let shops = load_tenants(pool, &["active", "suspended"], None, only).await?;
    if let Some(slug) = only
        && shops.is_empty()
    {
        anyhow::bail!("no live shop '{slug}'");
    }
    let bar = if progress { ProgressBar::new(shops.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} shops  {elapsed} eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut report = ReindexReport::default();
    for tenant in shops {
        bar.set_message(tenant.slug.clone());
        report.products += reindex_shop(pool, engine, &tenant).await?;
        report.shops += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(report)
}

async fn reindex_shop(
    pool: &DbPool,
    engine: &dyn SearchEngine,
    tenant: &Tenant,
) -> anyhow::Result<usize> {
    engine.create_index(tenant).await?;
    // Before the database's ids: see the module doc.
    let indexed = engine.indexed_ids(tenant).await?;
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let ids: Vec<Uuid> =
        sqlx::query_scalar("select id from products order by id").fetch_all(&mut *tx).await?;
    let synonyms = load_synonyms(&mut tx).await.map_err(|err| anyhow::anyhow!("{err}"))?;
    tx.commit().await?;
    engine.apply_synonyms(tenant, &synonyms).await?;

    for batch in ids.chunks(BATCH) {
        let mut tx = TenantTx::begin(pool, tenant).await?;
        refresh_search_vector(&mut tx, batch).await?;
        let documents = load_documents(&mut tx, batch).await?;
        tx.commit().await?;
        let (active, inactive): (Vec<_>, Vec<_>) =
            documents.into_iter().partition(|doc| doc.active);
        engine.upsert(tenant, &active).await?;
        engine.remove(tenant, &inactive.iter().map(|doc| doc.id).collect::<Vec<_>>()).await?;
    }
    for batch in strays(&indexed, &ids).chunks(BATCH) {
        engine.remove(tenant, batch).await?;
    }
    Ok(ids.len())
}

/// The indexed ids that are not products in the database (any more), in index order.
pub fn strays(indexed: &[Uuid], in_database: &[Uuid]) -> Vec<Uuid> {
    let in_database: std::collections::HashSet<&Uuid> = in_database.iter().collect();
    indexed.iter().filter(|id| !in_database.contains(id)).copied().collect()
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::strays;

    #[test]
    fn reindex_removes_indexed_products_that_the_database_no_longer_has() {
        let [kept, deleted, created] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        // `created` was added after the index was read: it is not indexed yet, and stays.
        assert_eq!(strays(&[kept, deleted], &[kept, created]), [deleted]);
        assert!(strays(&[], &[kept]).is_empty(), "a missing index has nothing to remove");
    }
}
