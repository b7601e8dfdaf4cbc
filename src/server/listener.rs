//! The change listener: one PostgreSQL `LISTEN` connection per instance (straight to the server,
//! `DATABASE_DIRECT_URL`: a session of its own), routing each channel
//! to the part that reacts to it: shop and domain changes drop the tenant cache, policy
//! changes drop a shop's enforcer, storefront changes move the shop's cache generation, outbox
//! notifications wake the worker.
//!
//! Rule: it is connected before the server accepts requests ([`connect`]), so nothing is
//! missed; a lost connection drops the tenant and policy caches and stops trusting cached
//! generations (notifications may have been missed; the outbox
//! worker's sweep and schedule recover its side).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::auth::rbac::{POLICIES_CHANNEL, Rbac};
use crate::cache::Cache;
use crate::cache::changes::CACHE_CHANNEL;
use crate::events::OUTBOX_CHANNEL;
use crate::events::worker::OutboxWaker;
use crate::tenancy::ShopId;
use crate::tenancy::registry::{TENANTS_CHANNEL, TenantRegistry};

/// Subscribes to change notifications; the listener is then driven by [`run`].
pub async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([TENANTS_CHANNEL, POLICIES_CHANNEL, CACHE_CHANNEL, OUTBOX_CHANNEL]).await?;
    Ok(listener)
}

/// Runs for the life of the server.
pub async fn run(
    mut listener: PgListener,
    tenants: TenantRegistry,
    rbac: Rbac,
    cache: Cache,
    outbox: OutboxWaker,
) {
    // Cache bumps run in order on a task of their own: Redis may be slow, and must not hold up
    // the other channels.
    let (bumps, mut bumps_to_apply) = tokio::sync::mpsc::unbounded_channel::<ShopId>();
    let bumping = cache.clone();
    tokio::spawn(async move {
        while let Some(shop) = bumps_to_apply.recv().await {
            bumping.changed(shop).await;
        }
    });
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match notification.channel() {
                TENANTS_CHANNEL => tenants.invalidate_all(),
                POLICIES_CHANNEL => match notification.payload().parse::<Uuid>() {
                    Ok(id) => rbac.invalidate(ShopId(id)).await,
                    Err(_) => rbac.invalidate_all(),
                },
                CACHE_CHANNEL => {
                    if let Ok(id) = notification.payload().parse::<Uuid>() {
                        let _ = bumps.send(ShopId(id));
                    }
                }
                OUTBOX_CHANNEL => {
                    if let Ok(id) = notification.payload().parse::<Uuid>() {
                        outbox.wake(ShopId(id));
                    }
                }
                _ => {}
            },
            Ok(None) => {
                tracing::warn!("change listener reconnected; dropping tenant and policy caches");
                tenants.invalidate_all();
                rbac.invalidate_all();
                cache.forget_generations();
            }
            Err(err) => {
                tracing::error!(error = %err, "change listener failed; retrying");
                tenants.invalidate_all();
                rbac.invalidate_all();
                cache.forget_generations();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
