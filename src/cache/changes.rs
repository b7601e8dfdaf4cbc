//! How a change reaches the cache, in two ways that cannot both be forgotten:
//!
//! - **In the database** (tenant migration 0013): a statement trigger on every table that
//!   storefronts read (products, variants, categories, product categories, media, search terms
//!   and synonyms, storefront settings) queues `NOTIFY shopfleet_cache, '<shop id>'`, which
//!   PostgreSQL delivers only if the transaction commits, to every instance's change listener;
//!   each moves the shop to a new generation ([`super::Cache::changed`]). Whatever code writes
//!   (an API, a checkout, the outbox worker, a CLI command), every instance sees the change
//!   within milliseconds of its commit.
//! - **In the request** ([`record`]): the request that made the change also notes its shop in
//!   the request's [`scope`], which bumps the generation after the handler has committed and
//!   before the response is sent, so the client that made a change reads it back at once,
//!   without waiting for the notification. The server records every successful write through
//!   the admin API (one rule, so no admin endpoint can forget it); stock movements record
//!   themselves (a checkout sells out a product). A write that changed nothing storefronts
//!   read bumps needlessly, which costs a few misses, never a stale read.

use std::cell::RefCell;
use std::future::Future;

use super::Cache;
use crate::tenancy::ShopId;

/// The channel of "this shop's storefront data changed" (payload: the shop id).
pub const CACHE_CHANNEL: &str = "shopfleet_cache";

tokio::task_local! {
    static CHANGED: RefCell<Vec<ShopId>>;
}

/// Records that the current request changes `shop`'s storefront data: its generation is
/// bumped before the response leaves. Outside a [`scope`] (the outbox worker, a CLI command) it
/// does nothing: the commit-time notification does it all.
pub fn record(shop: ShopId) {
    let _ = CHANGED.try_with(|changed| changed.borrow_mut().push(shop));
}

/// Runs `work` (a request's handling), then bumps the generation of every shop it changed.
pub async fn scope<F: Future>(cache: &Cache, work: F) -> F::Output {
    let (output, mut changed) = CHANGED
        .scope(RefCell::new(Vec::new()), async {
            let output = work.await;
            (output, CHANGED.with(|changed| changed.take()))
        })
        .await;
    changed.sort_unstable_by_key(|shop| shop.0);
    changed.dedup();
    for shop in changed {
        cache.changed(shop).await;
    }
    output
}
