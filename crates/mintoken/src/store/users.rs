//! Accounts, sessions and refresh tokens.

use super::{Store, StoreError, conflict_aware};
use crate::clock::now_ms;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    /// Argon2id PHC string; `None` for accounts that only sign in with an external
    /// (Supabase) token.
    pub password_hash: Option<String>,
    pub plan: String,
    pub created_at: i64,
}

fn user_from(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        plan: row.try_get("plan")?,
        created_at: row.try_get("created_at")?,
    })
}

const USER_COLUMNS: &str = "id, email, password_hash, plan, created_at";

/// What presenting a refresh token achieved.
pub enum RefreshOutcome {
    /// The token was valid and is now spent; issue a new one in the same session.
    Rotated { session_id: String, user_id: String },
    /// Unknown, expired, or its session was revoked.
    Invalid,
    /// A spent token came back: someone holds a stolen copy. The session is revoked.
    Reused,
}

impl Store {
    pub async fn create_user(&self, email: &str, password_hash: Option<&str>, plan: &str) -> Result<User, StoreError> {
        let now = now_ms();
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.to_owned(),
            password_hash: password_hash.map(str::to_owned),
            plan: plan.to_owned(),
            created_at: now,
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO users (id, email, password_hash, plan, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(&user.plan)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_aware)?;
        super::orgs::claim_invitations(&mut tx, &user.id, &user.email, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Makes sure an account exists for a valid externally issued token (a deployment
    /// that shares a Supabase project's JWT secret): the token's subject becomes the id.
    pub async fn ensure_user(&self, id: &str, email: &str, plan: &str) -> Result<User, StoreError> {
        if let Some(user) = self.user_by_id(id).await? {
            return Ok(user);
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, password_hash, plan, created_at, updated_at) VALUES ($1, $2, NULL, $3, $4, $5)",
        )
        .bind(id)
        .bind(email)
        .bind(plan)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted.map_err(conflict_aware) {
            Ok(_) => {
                super::orgs::claim_invitations(&mut tx, id, email, now).await?;
                tx.commit().await?;
            }
            // Created meanwhile by a concurrent request with the same token.
            Err(StoreError::Conflict) => tx.rollback().await?,
            Err(e) => return Err(e),
        }
        self.user_by_id(id).await?.ok_or(StoreError::Conflict)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(email).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, email");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
    }

    /// Returns false when no such account exists.
    pub async fn set_plan(&self, email: &str, plan: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET plan = $1, updated_at = $2 WHERE email = $3")
            .bind(plan)
            .bind(now_ms())
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Accounts whose plan changed at or after `since_ms`, for cache refresh.
    pub async fn plans_changed_since(&self, since_ms: i64) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, plan FROM users WHERE updated_at >= $1")
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("plan")?))).collect::<Result<_, sqlx::Error>>()?)
    }

    pub async fn create_session(&self, user_id: &str) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(user_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    pub async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// True only for a session this instance issued and later revoked; tokens from an
    /// external issuer carry sessions we never saw, which are not revoked here.
    pub async fn session_revoked(&self, session_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT revoked_at FROM sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            None => false,
        })
    }

    pub async fn insert_refresh_token(
        &self,
        token_hash: &str,
        session_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(session_id)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Spends a refresh token exactly once: the conditional UPDATE makes two racing
    /// refreshes of the same token yield one winner and one reuse.
    pub async fn spend_refresh_token(&self, token_hash: &str) -> Result<RefreshOutcome, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT t.session_id, t.expires_at, t.used_at, s.user_id, s.revoked_at \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(RefreshOutcome::Invalid) };
        let session_id: String = row.try_get("session_id")?;
        let user_id: String = row.try_get("user_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        if revoked_at.is_some() || expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        if used_at.is_some() {
            self.revoke_session(&session_id).await?;
            return Ok(RefreshOutcome::Reused);
        }
        let spent = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        if spent.rows_affected() == 0 {
            self.revoke_session(&session_id).await?;
            return Ok(RefreshOutcome::Reused);
        }
        Ok(RefreshOutcome::Rotated { session_id, user_id })
    }
}
