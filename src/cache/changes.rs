//! Recording that a transaction changed what a shop's storefront shows.
//!
//! [`record`] is called inside the change's transaction (by `events::emit` for storefront-
//! facing event kinds, and by the few writers whose change has no event, such as a stock
//! movement). It does two things:
//! - queues `NOTIFY shopfleet_cache, '<shop id>'`, delivered by PostgreSQL only if the
//!   transaction commits, to every instance's change listener, which bumps the shop's
//!   generation ([`super::Cache::changed`]): other instances see the change within
//!   milliseconds;
//! - remembers the shop for the current request, if it runs inside [`scope`], which bumps the
//!   generation after the handler has committed and before the response is sent: the client
//!   that made the change reads it back at once. (A rolled-back change bumps needlessly, which
//!   costs a few cache misses and is never wrong.)

use std::cell::RefCell;
use std::future::Future;

use sqlx::PgConnection;

use super::Cache;
use crate::tenancy::ShopId;

/// The channel of "this shop's storefront data changed" (payload: the shop id).
pub const CACHE_CHANNEL: &str = "shopfleet_cache";

tokio::task_local! {
    static CHANGED: RefCell<Vec<ShopId>>;
}

/// Records, in the caller's transaction, that `shop`'s storefront data changes.
pub async fn record(conn: &mut PgConnection, shop: ShopId) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, $2)")
        .bind(CACHE_CHANNEL)
        .bind(shop.to_string())
        .execute(conn)
        .await?;
    // Outside a scope (the outbox worker, a CLI command) the notification does it all.
    let _ = CHANGED.try_with(|changed| changed.borrow_mut().push(shop));
    Ok(())
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
