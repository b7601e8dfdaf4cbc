//! Authorization: casbin RBAC with domains (`policies/model.conf`), domain = shop id.
//!
//! A shop's rules live in its own schema (`casbin_rules`), so they are isolated by the same
//! `TenantTx` as its data and vanish with it. Each instance keeps one enforcer per shop in a
//! bounded cache; a change to a shop's rules fires `NOTIFY shopfleet_policies` in the same
//! transaction, and every instance drops that shop's enforcer.
//!
//! Subjects: a staff member's id, or `role:<name>`; roles are `role:<name>` subjects of `p`
//! lines. Objects and actions are the fixed catalogue of [`Permission`].
//!
//! Rule: every admin operation calls [`Rbac::require`] before touching data.

use std::sync::Arc;

use casbin::prelude::*;
use moka::future::Cache;
use sqlx::PgConnection;
use uuid::Uuid;

use super::permission::Permission;
use crate::error::{AppError, AppResult};
use crate::tenancy::{DbPool, ShopId, Tenant, TenantTx};

const MODEL: &str = include_str!("../../policies/model.conf");

/// Role templates installed into every new shop: (role, description, policy lines).
pub const ROLE_TEMPLATES: &[(&str, &str, &str)] = &[
    ("owner", "The shop's owner: everything", include_str!("../../policies/owner.csv")),
    ("manager", "Runs the shop day to day", include_str!("../../policies/manager.csv")),
    ("staff", "Catalog work", include_str!("../../policies/staff.csv")),
    ("customer", "A storefront customer", include_str!("../../policies/customer.csv")),
];

/// Channel of RBAC policy changes (payload: the shop id).
pub const POLICIES_CHANNEL: &str = "shopfleet_policies";

pub fn role_subject(role: &str) -> String {
    format!("role:{role}")
}

/// Parses a role template into `(object, action)` pairs; lines are `p, <role>, <object>, <action>`.
pub fn template_permissions(csv: &str) -> Vec<(String, String)> {
    csv.lines()
        .map(str::trim)
        .filter(|line| line.starts_with("p,"))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            match fields.as_slice() {
                ["p", _role, object, action] => Some(((*object).to_owned(), (*action).to_owned())),
                _ => None,
            }
        })
        .collect()
}

#[derive(Clone)]
pub struct Rbac {
    pool: DbPool,
    enforcers: Cache<ShopId, Arc<Enforcer>>,
}

impl Rbac {
    pub fn new(pool: DbPool, capacity: u64) -> Self {
        Self { pool, enforcers: Cache::builder().max_capacity(capacity).build() }
    }

    /// 403 unless staff member `subject` may do `action` on `object` in the tenant's shop;
    /// 401 if they hold no role at all any more (removed while their token is still valid).
    pub async fn require(
        &self,
        tenant: &Tenant,
        subject: Uuid,
        permission: Permission,
    ) -> AppResult<()> {
        let (object, action) = (permission.object(), permission.action());
        let enforcer = self.enforcer(tenant).await?;
        let (subject, domain) = (subject.to_string(), tenant.id.to_string());
        if enforcer.get_roles_for_user(&subject, Some(&domain)).is_empty() {
            return Err(AppError::unauthorized("invalid_token", "this account no longer exists"));
        }
        let allowed = enforcer
            .enforce((subject.as_str(), domain.as_str(), object, action))
            .map_err(|err| AppError::Internal(anyhow::anyhow!("casbin: {err}")))?;
        if allowed {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "forbidden",
                format!("your role does not allow {action} on {object}"),
            ))
        }
    }

    pub async fn allowed(
        &self,
        tenant: &Tenant,
        subject: &str,
        permission: Permission,
    ) -> AppResult<bool> {
        let (object, action) = (permission.object(), permission.action());
        let enforcer = self.enforcer(tenant).await?;
        let domain = tenant.id.to_string();
        enforcer
            .enforce((subject, domain.as_str(), object, action))
            .map_err(|err| AppError::Internal(anyhow::anyhow!("casbin: {err}")))
    }

    async fn enforcer(&self, tenant: &Tenant) -> AppResult<Arc<Enforcer>> {
        let pool = self.pool.clone();
        let owned = tenant.clone();
        self.enforcers
            .try_get_with(
                tenant.id,
                async move { load_enforcer(&pool, &owned).await.map(Arc::new) },
            )
            .await
            .map_err(|err| AppError::Internal(anyhow::anyhow!("loading policies: {err}")))
    }

    pub async fn invalidate(&self, shop: ShopId) {
        self.enforcers.invalidate(&shop).await;
    }

    pub fn invalidate_all(&self) {
        self.enforcers.invalidate_all();
    }
}

async fn load_enforcer(pool: &DbPool, tenant: &Tenant) -> anyhow::Result<Enforcer> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let rows: Vec<(String, String, String, String, String)> =
        sqlx::query_as("select ptype, v0, v1, v2, v3 from casbin_rules order by id")
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;

    let model = DefaultModel::from_str(MODEL).await?;
    let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await?;
    let (mut policies, mut groupings) = (Vec::new(), Vec::new());
    for (ptype, v0, v1, v2, v3) in rows {
        match ptype.as_str() {
            "p" => policies.push(vec![v0, v1, v2, v3]),
            "g" => groupings.push(vec![v0, v1, v2]),
            _ => {}
        }
    }
    if !policies.is_empty() {
        enforcer.add_policies(policies).await?;
    }
    if !groupings.is_empty() {
        enforcer.add_grouping_policies(groupings).await?;
    }
    Ok(enforcer)
}

/// Tells every instance (this one included) that the shop's rules changed. Delivered by
/// PostgreSQL when the surrounding transaction commits, and not at all if it rolls back.
pub async fn notify_policy_change(conn: &mut PgConnection, shop: ShopId) -> AppResult<()> {
    sqlx::query("select pg_notify($1, $2)")
        .bind(POLICIES_CHANNEL)
        .bind(shop.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Installs the role templates into a new shop (inside provisioning's transaction).
pub async fn install_templates(conn: &mut PgConnection, shop: ShopId) -> AppResult<()> {
    let domain = shop.to_string();
    for (role, description, csv) in ROLE_TEMPLATES {
        sqlx::query("insert into roles (name, description, builtin) values ($1, $2, true)")
            .bind(role)
            .bind(description)
            .execute(&mut *conn)
            .await?;
        for (object, action) in template_permissions(csv) {
            add_policy(conn, role, &domain, &object, &action).await?;
        }
    }
    Ok(())
}

pub async fn add_policy(
    conn: &mut PgConnection,
    role: &str,
    domain: &str,
    object: &str,
    action: &str,
) -> AppResult<()> {
    sqlx::query("insert into casbin_rules (ptype, v0, v1, v2, v3) values ('p', $1, $2, $3, $4)")
        .bind(role_subject(role))
        .bind(domain)
        .bind(object)
        .bind(action)
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives a staff member exactly one role (replacing any other).
pub async fn assign_role(
    conn: &mut PgConnection,
    shop: ShopId,
    staff: Uuid,
    role: &str,
) -> AppResult<()> {
    sqlx::query("delete from casbin_rules where ptype = 'g' and v0 = $1")
        .bind(staff.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query("insert into casbin_rules (ptype, v0, v1, v2) values ('g', $1, $2, $3)")
        .bind(staff.to_string())
        .bind(role_subject(role))
        .bind(shop.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn enforcer_with(lines: &[(&str, &[&str])]) -> Enforcer {
        let model = DefaultModel::from_str(MODEL).await.unwrap();
        let mut e = Enforcer::new(model, MemoryAdapter::default()).await.unwrap();
        for (ptype, rule) in lines {
            let rule: Vec<String> = rule.iter().map(|s| s.to_string()).collect();
            if *ptype == "p" {
                e.add_policy(rule).await.unwrap();
            } else {
                e.add_grouping_policy(rule).await.unwrap();
            }
        }
        e
    }

    #[tokio::test]
    async fn roles_grant_only_within_their_shop() {
        let e = enforcer_with(&[
            ("p", &["role:staff", "shop-a", "products", "write"]),
            ("p", &["role:owner", "shop-a", "*", "*"]),
            ("g", &["alice", "role:staff", "shop-a"]),
            ("g", &["olga", "role:owner", "shop-a"]),
        ])
        .await;
        assert!(e.enforce(("alice", "shop-a", "products", "write")).unwrap());
        assert!(!e.enforce(("alice", "shop-a", "staff", "write")).unwrap());
        assert!(!e.enforce(("alice", "shop-b", "products", "write")).unwrap());
        assert!(e.enforce(("olga", "shop-a", "roles", "write")).unwrap());
        assert!(!e.enforce(("olga", "shop-b", "roles", "write")).unwrap());
    }

    #[test]
    fn templates_parse_and_use_known_permissions() {
        for (role, _, csv) in ROLE_TEMPLATES {
            let perms = template_permissions(csv);
            assert!(!perms.is_empty(), "{role} has no permissions");
            for (object, action) in perms {
                let known = (object == "*" && action == "*")
                    || Permission::from_parts(&object, &action).is_some()
                    || object == "account";
                assert!(known, "{role}: unknown permission {object}:{action}");
            }
        }
    }
}
