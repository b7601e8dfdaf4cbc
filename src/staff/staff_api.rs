//! `GET/POST /v1/admin/staff`, `PATCH/DELETE /v1/admin/staff/{id}`.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{check_assignable, check_manageable, role_permissions};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::auth::{password, rbac, tokens};
use crate::error::{
    AppError, AppResult, OnConstraint, ShopDeleteErrors, ShopReadErrors, ShopWriteErrors,
};
use crate::quotas::{Quota, Resource};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{Email, Name};

pub struct StaffApi {
    pub state: AppState,
}

#[derive(Debug, Object, sqlx::FromRow)]
pub struct StaffMember {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// Role name; every staff member has exactly one.
    pub role: String,
    /// The shop's owner: cannot be removed or given another role.
    pub is_owner: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct NewStaffMember {
    pub email: String,
    #[oai(default)]
    pub name: String,
    /// A built-in role (`manager`, `staff`) or a custom role.
    pub role: String,
    /// Initial password, at least 10 characters; the staff member signs in with it.
    pub password: String,
}

#[derive(Debug, Object)]
pub struct StaffUpdate {
    #[oai(nullable)]
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    #[oai(nullable)]
    pub role: Option<String>,
}

#[derive(ApiResponse)]
enum StaffCreated {
    #[oai(status = 201)]
    Created(Json<StaffMember>),
}

#[derive(ApiResponse)]
enum StaffDeleted {
    /// Removed; their sessions are revoked.
    #[oai(status = 204)]
    NoContent,
}

const SELECT_STAFF: &str = "select s.id, s.email, s.name, s.is_owner, s.created_at, \
     coalesce(substr(r.v1, 6), '') as role from staff s \
     left join casbin_rules r on r.ptype = 'g' and r.v0 = s.id::text";

async fn find_staff(conn: &mut PgConnection, id: Uuid) -> AppResult<StaffMember> {
    sqlx::query_as(&format!("{SELECT_STAFF} where s.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| AppError::not_found("staff_not_found", "no such staff member"))
}

async fn role_exists(conn: &mut PgConnection, role: &str) -> AppResult<Vec<String>> {
    let exists: bool = sqlx::query_scalar("select exists (select 1 from roles where name = $1)")
        .bind(role)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Err(AppError::validation("role", format!("no role named '{role}'")));
    }
    role_permissions(conn, role).await
}

#[OpenApi(prefix_path = "/v1/admin/staff", tag = "crate::openapi_tags::Tag::Staff")]
impl StaffApi {
    /// List staff
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<Vec<StaffMember>>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::StaffRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let staff =
            sqlx::query_as(&format!("{SELECT_STAFF} order by s.is_owner desc, s.created_at"))
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(Json(staff))
    }

    /// Add a staff member
    ///
    /// `email_taken` (409) if the shop has staff with that e-mail; `privilege_escalation` (403)
    /// for a role with permissions you do not hold; `plan_limit_reached` (403) when the shop
    /// has as many staff as its plan allows (the owner counts).
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<NewStaffMember>,
    ) -> Result<StaffCreated, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::StaffWrite).await?;
        Ok(StaffCreated::Created(Json(self.add(&tenant, auth.0.id, body.0).await?)))
    }

    /// Change a staff member's name or role
    ///
    /// `privilege_escalation` (403) for a staff member holding a permission you do not hold,
    /// or a new role with one.
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<StaffUpdate>,
    ) -> Result<Json<StaffMember>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::StaffWrite).await?;
        Ok(Json(self.change(&tenant, auth.0.id, id.0, body.0).await?))
    }

    /// Remove a staff member
    ///
    /// The owner cannot be removed (`owner_protected`, 409); nor can a staff member holding a
    /// permission you do not hold (`privilege_escalation`, 403).
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<StaffDeleted, ShopDeleteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::StaffWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let member = find_staff(&mut tx, id.0).await?;
        if member.is_owner {
            return Err(
                AppError::conflict("owner_protected", "the shop owner cannot be removed").into()
            );
        }
        check_manageable(&mut tx, &self.state, &tenant, auth.0.id, &member.role).await?;
        sqlx::query("delete from casbin_rules where ptype = 'g' and v0 = $1")
            .bind(member.id.to_string())
            .execute(&mut *tx)
            .await?;
        tokens::revoke_subject(&mut tx, member.id).await?;
        sqlx::query("delete from staff where id = $1").bind(member.id).execute(&mut *tx).await?;
        rbac::notify_policy_change(&mut tx, tenant.id).await?;
        tx.commit().await?;
        self.state.rbac.invalidate(tenant.id).await;
        Ok(StaffDeleted::NoContent)
    }
}

impl StaffApi {
    async fn add(
        &self,
        tenant: &Tenant,
        actor: Uuid,
        req: NewStaffMember,
    ) -> AppResult<StaffMember> {
        let email = Email::parse("email", &req.email)?;
        password::check_strength(&req.password, email.as_str())
            .map_err(|msg| AppError::validation("password", msg))?;
        let name: String = req.name.trim().chars().take(100).collect();
        let role = req.role.trim().to_owned();
        // Before the transaction: the hash may wait in the queue of the hashing gate.
        let hash = self.state.passwords.hash(req.password).await?;

        let quota = Quota::read(&self.state.pool, tenant.id, Resource::Staff).await?;
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let permissions = role_exists(&mut tx, &role).await?;
        check_assignable(&self.state, tenant, actor, &role, &permissions).await?;
        let id = Uuid::now_v7();
        sqlx::query("insert into staff (id, email, name, password_hash) values ($1, $2, $3, $4)")
            .bind(id)
            .bind(email.as_str())
            .bind(&name)
            .bind(hash)
            .execute(&mut *tx)
            .await
            .on_constraint("staff_email_key", |_| {
                AppError::conflict("email_taken", "a staff member with this e-mail exists")
            })?;
        quota.enforce(&mut tx, 1).await?;
        rbac::assign_role(&mut tx, tenant.id, id, &role).await?;
        rbac::notify_policy_change(&mut tx, tenant.id).await?;
        let member = find_staff(&mut tx, id).await?;
        tx.commit().await?;
        self.state.rbac.invalidate(tenant.id).await;
        Ok(member)
    }

    async fn change(
        &self,
        tenant: &Tenant,
        actor: Uuid,
        id: Uuid,
        req: StaffUpdate,
    ) -> AppResult<StaffMember> {
        let name = req.name.as_deref().map(|n| Name::parse("name", n, 100)).transpose()?;
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let member = find_staff(&mut tx, id).await?;
        if let Some(role) = req.role.as_deref().map(str::trim).filter(|r| *r != member.role) {
            if member.is_owner {
                return Err(AppError::conflict(
                    "owner_protected",
                    "the owner's role cannot be changed",
                ));
            }
            check_manageable(&mut tx, &self.state, tenant, actor, &member.role).await?;
            let permissions = role_exists(&mut tx, role).await?;
            check_assignable(&self.state, tenant, actor, role, &permissions).await?;
            rbac::assign_role(&mut tx, tenant.id, id, role).await?;
            rbac::notify_policy_change(&mut tx, tenant.id).await?;
        } else {
            check_manageable(&mut tx, &self.state, tenant, actor, &member.role).await?;
        }
        sqlx::query("update staff set name = coalesce($2, name), updated_at = now() where id = $1")
            .bind(id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let member = find_staff(&mut tx, id).await?;
        tx.commit().await?;
        self.state.rbac.invalidate(tenant.id).await;
        Ok(member)
    }
}
