//! `GET/POST /v1/admin/roles`, `DELETE /v1/admin/roles/{name}`: custom roles as named sets of
//! permissions.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::{check_assignable, is_builtin, role_permissions};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::auth::rbac;
use crate::error::{
    AppError, AppResult, OnConstraint, ShopDeleteErrors, ShopReadErrors, ShopWriteErrors,
};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};

pub struct RolesApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct Role {
    pub name: String,
    pub description: String,
    /// Built-in roles (owner, manager, staff, customer) cannot be changed or deleted.
    pub builtin: bool,
    /// `object:action` pairs; `*:*` means everything.
    pub permissions: Vec<String>,
}

#[derive(Debug, Object)]
pub struct NewRole {
    /// 2–40 characters: lowercase letters, digits, `-` and `_`, starting with a letter.
    #[oai(validator(pattern = r"^\s*[a-z][a-z0-9_-]{1,39}\s*$"))]
    pub name: String,
    #[oai(default)]
    pub description: String,
    /// Each one of the permissions listed by `GET /v1/admin/roles/permissions`.
    pub permissions: Vec<String>,
}

#[derive(ApiResponse)]
enum RoleCreated {
    #[oai(status = 201)]
    Created(Json<Role>),
}

#[derive(ApiResponse)]
enum RoleDeleted {
    #[oai(status = 204)]
    NoContent,
}

fn parse_role_name(raw: &str) -> AppResult<String> {
    let name = raw.trim();
    let valid = (2..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(name.to_owned())
    } else {
        Err(AppError::validation(
            "name",
            "2-40 characters: lowercase letters, digits, '-', '_', starting with a letter",
        ))
    }
}

#[OpenApi(prefix_path = "/v1/admin/roles", tag = "crate::openapi_tags::Tag::Staff")]
impl RolesApi {
    /// List roles with their permissions
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<Vec<Role>>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::RolesRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let rows: Vec<(String, String, bool)> = sqlx::query_as(
            "select name, description, builtin from roles order by builtin desc, name",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut roles = Vec::with_capacity(rows.len());
        for (name, description, builtin) in rows {
            let permissions = role_permissions(&mut tx, &name).await?;
            roles.push(Role { name, description, builtin, permissions });
        }
        tx.commit().await?;
        Ok(Json(roles))
    }

    /// Every permission a role can hold
    #[oai(path = "/permissions", method = "get")]
    async fn permissions(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<Vec<Permission>>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::RolesRead).await?;
        Ok(Json(Permission::ALL.to_vec()))
    }

    /// Create a custom role
    ///
    /// `role_exists` (409) for a taken name; `privilege_escalation` (403) for a permission you
    /// do not hold.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<NewRole>,
    ) -> Result<RoleCreated, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::RolesWrite).await?;
        Ok(RoleCreated::Created(Json(self.add(&tenant, auth.0.id, body.0).await?)))
    }

    /// Delete a custom role
    ///
    /// `role_in_use` (409) while staff hold it; built-in roles cannot be deleted.
    #[oai(path = "/:name", method = "delete")]
    async fn delete(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        name: Path<String>,
    ) -> Result<RoleDeleted, ShopDeleteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::RolesWrite).await?;
        if is_builtin(&name.0) {
            return Err(
                AppError::conflict("role_builtin", "built-in roles cannot be deleted").into()
            );
        }
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let subject = rbac::role_subject(&name.0);
        let in_use: bool = sqlx::query_scalar(
            "select exists (select 1 from casbin_rules where ptype = 'g' and v1 = $1)",
        )
        .bind(&subject)
        .fetch_one(&mut *tx)
        .await?;
        if in_use {
            return Err(AppError::conflict("role_in_use", "staff still hold this role").into());
        }
        let deleted = sqlx::query("delete from roles where name = $1 and not builtin")
            .bind(&name.0)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(AppError::not_found("role_not_found", "no such role").into());
        }
        sqlx::query("delete from casbin_rules where ptype = 'p' and v0 = $1")
            .bind(&subject)
            .execute(&mut *tx)
            .await?;
        rbac::notify_policy_change(&mut tx, tenant.id).await?;
        tx.commit().await?;
        self.state.rbac.invalidate(tenant.id).await;
        Ok(RoleDeleted::NoContent)
    }
}

impl RolesApi {
    async fn add(&self, tenant: &Tenant, actor: Uuid, req: NewRole) -> AppResult<Role> {
        let name = parse_role_name(&req.name)?;
        let description: String = req.description.trim().chars().take(200).collect();
        let mut permissions: Vec<String> =
            req.permissions.iter().map(|p| p.trim().to_owned()).collect();
        permissions.sort();
        permissions.dedup();
        if permissions.is_empty() {
            return Err(AppError::validation(
                "permissions",
                "a role needs at least one permission",
            ));
        }
        if let Some(unknown) = permissions.iter().find(|p| Permission::parse(p).is_none()) {
            return Err(AppError::validation(
                "permissions",
                format!("unknown permission '{unknown}'"),
            ));
        }
        check_assignable(&self.state, tenant, actor, &name, &permissions).await?;

        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        sqlx::query("insert into roles (name, description) values ($1, $2)")
            .bind(&name)
            .bind(&description)
            .execute(&mut *tx)
            .await
            .on_constraint("roles_pkey", |_| {
                AppError::conflict("role_exists", "a role with this name exists")
            })?;
        let domain = tenant.id.to_string();
        for permission in &permissions {
            let (object, action) = permission.split_once(':').unwrap_or((permission, ""));
            rbac::add_policy(&mut tx, &name, &domain, object, action).await?;
        }
        rbac::notify_policy_change(&mut tx, tenant.id).await?;
        tx.commit().await?;
        self.state.rbac.invalidate(tenant.id).await;
        Ok(Role { name, description, builtin: false, permissions })
    }
}
