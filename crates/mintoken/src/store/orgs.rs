//! Organizations, their members (with roles) and pending invitations. Roles live in
//! `org_members` only; the owner is the one member with the role `owner` (a unique
//! index holds it to one), so "whose plan is this org on" has one answer.

use super::{Store, StoreError, conflict_aware};
use crate::clock::now_ms;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A member's role, in decreasing power.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrgRole {
    Owner,
    Admin,
    Member,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Owner => "owner",
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }

    /// Owner or admin: may invite, remove, change roles, manage org keys.
    pub fn manages(self) -> bool {
        matches!(self, OrgRole::Owner | OrgRole::Admin)
    }
}

impl std::str::FromStr for OrgRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "owner" => Ok(OrgRole::Owner),
            "admin" => Ok(OrgRole::Admin),
            "member" => Ok(OrgRole::Member),
            other => Err(format!("unknown role {other:?}; use member, admin or owner")),
        }
    }
}

fn role_from(row: &AnyRow) -> Result<OrgRole, sqlx::Error> {
    let role: String = row.try_get("role")?;
    // A row edited by hand to an unknown role gets the least power, never more.
    Ok(role.parse().unwrap_or(OrgRole::Member))
}

#[derive(Clone, Debug)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub created_at: i64,
}

/// An org as one of its members sees it in a list.
#[derive(Clone, Debug)]
pub struct OrgOfUser {
    pub org: Org,
    pub role: OrgRole,
    pub member_count: i64,
    /// The owner's plan: the org's plan.
    pub plan: String,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: OrgRole,
    pub joined_at: i64,
}

#[derive(Clone, Debug)]
pub struct Invitation {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: OrgRole,
    pub created_at: i64,
}

/// The owner of an org and the plan the org is therefore on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgOwner {
    pub org_id: String,
    pub user_id: String,
    pub plan: String,
}

fn org_from(row: &AnyRow) -> Result<Org, sqlx::Error> {
    Ok(Org {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        created_at: row.try_get("created_at")?,
    })
}

fn owner_from(row: &AnyRow) -> Result<OrgOwner, sqlx::Error> {
    Ok(OrgOwner { org_id: row.try_get("org_id")?, user_id: row.try_get("user_id")?, plan: row.try_get("plan")? })
}

const OWNER_SQL: &str = "SELECT m.org_id AS org_id, u.id AS user_id, u.plan AS plan FROM org_members m \
     JOIN users u ON u.id = m.user_id WHERE m.role = 'owner'";

impl Store {
    /// Creates an org with `owner_id` as its owner; a slug in use → Conflict.
    pub async fn create_org(&self, name: &str, slug: &str, owner_id: &str) -> Result<Org, StoreError> {
        let now = now_ms();
        let org =
            Org { id: uuid::Uuid::new_v4().to_string(), name: name.to_owned(), slug: slug.to_owned(), created_at: now };
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO orgs (id, name, slug, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&org.id)
            .bind(&org.name)
            .bind(&org.slug)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_aware)?;
        sqlx::query("INSERT INTO org_members (org_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)")
            .bind(&org.id)
            .bind(owner_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(org)
    }

    /// How many orgs the user owns (the plan's `max_orgs` caps it).
    pub async fn count_owned_orgs(&self, user_id: &str) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM org_members WHERE user_id = $1 AND role = 'owner'")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("n")?)
    }

    /// The orgs the user belongs to, with their role, member count and plan; oldest first.
    pub async fn orgs_of_user(&self, user_id: &str) -> Result<Vec<OrgOfUser>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.slug, o.created_at, me.role, \
               (SELECT CAST(COUNT(*) AS BIGINT) FROM org_members c WHERE c.org_id = o.id) AS member_count, \
               (SELECT u.plan FROM org_members w JOIN users u ON u.id = w.user_id \
                  WHERE w.org_id = o.id AND w.role = 'owner') AS plan \
             FROM org_members me JOIN orgs o ON o.id = me.org_id WHERE me.user_id = $1 ORDER BY o.created_at, o.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let one = |r: &AnyRow| -> Result<OrgOfUser, sqlx::Error> {
            Ok(OrgOfUser {
                org: org_from(r)?,
                role: role_from(r)?,
                member_count: r.try_get("member_count")?,
                plan: r.try_get::<Option<String>, _>("plan")?.unwrap_or_default(),
            })
        };
        Ok(rows.iter().map(one).collect::<Result<_, _>>()?)
    }

    /// One org as seen by `user_id`: `None` unless they are a member (a non-member
    /// cannot tell an org exists).
    pub async fn org_of_member(&self, org_id: &str, user_id: &str) -> Result<Option<OrgOfUser>, StoreError> {
        Ok(self.orgs_of_user(user_id).await?.into_iter().find(|o| o.org.id == org_id))
    }

    /// The user's role in the org, if they are a member.
    pub async fn org_role(&self, org_id: &str, user_id: &str) -> Result<Option<OrgRole>, StoreError> {
        let row = sqlx::query("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(role_from).transpose()?)
    }

    /// The org's owner and plan.
    pub async fn org_owner(&self, org_id: &str) -> Result<Option<OrgOwner>, StoreError> {
        let sql = format!("{OWNER_SQL} AND m.org_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(owner_from).transpose()?)
    }

    /// Owners of orgs whose ownership moved at or after `since_ms` (key cache sync).
    pub async fn org_owners_changed_since(&self, since_ms: i64) -> Result<Vec<OrgOwner>, StoreError> {
        let sql = format!("{OWNER_SQL} AND m.org_id IN (SELECT id FROM orgs WHERE updated_at >= $1)");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since_ms).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(owner_from).collect::<Result<_, _>>()?)
    }

    /// Members, owner first, then admins, then members, each by join time.
    pub async fn org_members(&self, org_id: &str) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, m.role, m.joined_at FROM org_members m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 \
             ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, m.joined_at, u.email",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let one = |r: &AnyRow| -> Result<Member, sqlx::Error> {
            Ok(Member {
                user_id: r.try_get("user_id")?,
                email: r.try_get("email")?,
                role: role_from(r)?,
                joined_at: r.try_get("joined_at")?,
            })
        };
        Ok(rows.iter().map(one).collect::<Result<_, _>>()?)
    }

    pub async fn org_member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        Ok(self.org_members(org_id).await?.into_iter().find(|m| m.user_id == user_id))
    }

    /// Pending invitations, oldest first.
    pub async fn org_invitations(&self, org_id: &str) -> Result<Vec<Invitation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_id, email, role, created_at FROM org_invitations WHERE org_id = $1 ORDER BY created_at, email",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let one = |r: &AnyRow| -> Result<Invitation, sqlx::Error> {
            Ok(Invitation {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                email: r.try_get("email")?,
                role: role_from(r)?,
                created_at: r.try_get("created_at")?,
            })
        };
        Ok(rows.iter().map(one).collect::<Result<_, _>>()?)
    }

    /// Members plus pending invitations: what the plan's `max_members_per_org` caps.
    pub async fn org_seats_taken(&self, org_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM org_members WHERE org_id = $1) \
                  + (SELECT CAST(COUNT(*) AS BIGINT) FROM org_invitations WHERE org_id = $2) AS n",
        )
        .bind(org_id)
        .bind(org_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Adds a member; already a member → Conflict.
    pub async fn add_org_member(&self, org_id: &str, user_id: &str, role: OrgRole) -> Result<Member, StoreError> {
        let now = now_ms();
        sqlx::query("INSERT INTO org_members (org_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)")
            .bind(org_id)
            .bind(user_id)
            .bind(role.as_str())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(conflict_aware)?;
        self.org_member(org_id, user_id).await?.ok_or(StoreError::Conflict)
    }

    /// Invites an email without an account; already invited → Conflict.
    pub async fn invite_to_org(
        &self,
        org_id: &str,
        email: &str,
        role: OrgRole,
        invited_by: &str,
    ) -> Result<Invitation, StoreError> {
        let inv = Invitation {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: org_id.to_owned(),
            email: email.to_owned(),
            role,
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO org_invitations (id, org_id, email, role, invited_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&inv.id)
        .bind(org_id)
        .bind(email)
        .bind(role.as_str())
        .bind(invited_by)
        .bind(inv.created_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_aware)?;
        Ok(inv)
    }

    /// Sets a non-owner member's role to admin or member; false when they are not a
    /// (non-owner) member.
    pub async fn set_org_role(&self, org_id: &str, user_id: &str, role: OrgRole) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE org_members SET role = $1 WHERE org_id = $2 AND user_id = $3 AND role <> 'owner'")
                .bind(role.as_str())
                .bind(org_id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Makes `to` (a member) the owner and the current owner `from` an admin, in one
    /// transaction, and moves the org's `updated_at` so every instance re-reads the
    /// plan its keys are on.
    pub async fn transfer_org(&self, org_id: &str, from: &str, to: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let demoted =
            sqlx::query("UPDATE org_members SET role = 'admin' WHERE org_id = $1 AND user_id = $2 AND role = 'owner'")
                .bind(org_id)
                .bind(from)
                .execute(&mut *tx)
                .await?;
        let promoted = sqlx::query("UPDATE org_members SET role = 'owner' WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        if demoted.rows_affected() != 1 || promoted.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("UPDATE orgs SET updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes a non-owner member; false when there was none.
    pub async fn remove_org_member(&self, org_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2 AND role <> 'owner'")
            .bind(org_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Withdraws a pending invitation; false when the org has none with this id.
    pub async fn delete_org_invitation(&self, org_id: &str, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM org_invitations WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Turns the pending invitations of a new account's email into memberships, inside the
/// transaction that creates the account (so an account never exists without them).
pub(super) async fn claim_invitations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    email: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO org_members (org_id, user_id, role, joined_at) \
         SELECT org_id, $1, role, $2 FROM org_invitations WHERE email = $3 \
         AND org_id NOT IN (SELECT org_id FROM org_members WHERE user_id = $4)",
    )
    .bind(user_id)
    .bind(now)
    .bind(email)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM org_invitations WHERE email = $1").bind(email).execute(&mut **tx).await?;
    Ok(())
}
