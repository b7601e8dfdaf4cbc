//! A shop's staff accounts and roles (named sets of permissions, enforced by casbin).
//!
//! Rules: the owner cannot be removed or given another role, so a shop can never be locked
//! out; nobody can hand out a role with a permission they do not hold themselves, nor change
//! or remove a staff member who holds one.

mod roles_api;
mod staff_api;

pub use roles_api::RolesApi;
pub use staff_api::StaffApi;

use uuid::Uuid;

use crate::auth::permission::Permission;
use crate::auth::rbac::{self, ROLE_TEMPLATES};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::tenancy::Tenant;

/// Permissions (`object:action`) of a role, from the shop's rules.
pub(crate) async fn role_permissions(
    conn: &mut sqlx::PgConnection,
    role: &str,
) -> AppResult<Vec<String>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select v2, v3 from casbin_rules where ptype = 'p' and v0 = $1 order by v2, v3",
    )
    .bind(rbac::role_subject(role))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(object, action)| format!("{object}:{action}")).collect())
}

/// Refuses roles that staff cannot be given (`owner` is the owner's alone, `customer` is for
/// storefront accounts) and roles holding a permission the actor lacks.
pub(crate) async fn check_assignable(
    state: &AppState,
    tenant: &Tenant,
    actor: Uuid,
    role: &str,
    permissions: &[String],
) -> AppResult<()> {
    if role == "owner" || role == "customer" {
        return Err(AppError::validation(
            "role",
            format!("the {role} role cannot be given to staff"),
        ));
    }
    match first_missing(state, tenant, actor, permissions).await? {
        Some(permission) => Err(AppError::forbidden(
            "privilege_escalation",
            format!("you cannot grant {permission}, which you do not hold"),
        )),
        None => Ok(()),
    }
}

/// Refuses to change or remove a staff member holding a permission the actor lacks (their
/// role's permissions must be a subset of the actor's): a manager cannot demote or delete
/// someone with more rights than the manager.
pub(crate) async fn check_manageable(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    tenant: &Tenant,
    actor: Uuid,
    member_role: &str,
) -> AppResult<()> {
    let permissions = role_permissions(conn, member_role).await?;
    match first_missing(state, tenant, actor, &permissions).await? {
        Some(permission) => Err(AppError::forbidden(
            "privilege_escalation",
            format!("this staff member holds {permission}, which you do not hold"),
        )),
        None => Ok(()),
    }
}

/// The first of `permissions` (`object:action`) that `actor` does not hold.
async fn first_missing(
    state: &AppState,
    tenant: &Tenant,
    actor: Uuid,
    permissions: &[String],
) -> AppResult<Option<String>> {
    for name in permissions {
        // A name no permission has (the owner's `*:*`) is one nobody else holds.
        let held = match Permission::parse(name) {
            Some(permission) => state.rbac.allowed(tenant, &actor.to_string(), permission).await?,
            None => false,
        };
        if !held {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}

/// Names of the built-in roles.
pub(crate) fn is_builtin(role: &str) -> bool {
    ROLE_TEMPLATES.iter().any(|(name, _, _)| *name == role)
}
