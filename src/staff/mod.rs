//! A shop's staff accounts and roles (named sets of permissions, enforced by casbin).
//!
//! Rules: the owner cannot be removed or given another role, so a shop can never be locked
//! out; nobody can hand out a role with a permission they do not hold themselves.

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
    // A stored name no permission has any more guards nothing: there is nothing to escalate.
    for permission in permissions.iter().filter_map(|name| Permission::parse(name)) {
        if !state.rbac.allowed(tenant, &actor.to_string(), permission).await? {
            return Err(AppError::forbidden(
                "privilege_escalation",
                format!("you cannot grant {permission}, which you do not hold"),
            ));
        }
    }
    Ok(())
}

/// Names of the built-in roles.
pub(crate) fn is_builtin(role: &str) -> bool {
    ROLE_TEMPLATES.iter().any(|(name, _, _)| *name == role)
}
