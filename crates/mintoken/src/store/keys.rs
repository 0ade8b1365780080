//! mintoken API keys. Only the SHA-256 of a raw key is stored.

use super::{Store, StoreError, conflict_aware, flag};
use crate::clock::now_ms;
use mintoken_compress::{ContextLevel, Intensity};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The settings a key owner can change (PATCH); everything else about a key is fixed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySettings {
    pub name: String,
    pub intensity: Intensity,
    pub auto_compress_input: bool,
    pub smart_detect_enabled: bool,
    pub context_compress: bool,
    pub context_compress_level: ContextLevel,
    /// Share of requests (0–100 %) sent without the skill so analytics can measure what
    /// the skill saves (SPEC §7).
    pub holdout_percent: u8,
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            name: "Default".to_owned(),
            intensity: Intensity::Full,
            auto_compress_input: false,
            smart_detect_enabled: true,
            context_compress: false,
            context_compress_level: ContextLevel::Standard,
            holdout_percent: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub id: String,
    /// The owner of a personal key; for an org key, the member who created it.
    pub user_id: String,
    /// Set for an org key: its usage counts against the org (SPEC §9).
    pub org_id: Option<String>,
    pub key_hash: String,
    pub key_prefix: String,
    pub settings: KeySettings,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl KeyRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

pub struct NewKey<'a> {
    pub user_id: &'a str,
    pub org_id: Option<&'a str>,
    pub key_hash: &'a str,
    pub key_prefix: &'a str,
    pub settings: &'a KeySettings,
}

const KEY_COLUMNS: &str = "id, user_id, org_id, key_hash, key_prefix, name, intensity, auto_compress_input, \
     smart_detect_enabled, context_compress, context_compress_level, holdout_percent, created_at, last_used_at, \
     revoked_at";

fn key_from(row: &AnyRow) -> Result<KeyRecord, sqlx::Error> {
    // Values were validated on the way in; a row edited by hand to an unknown level
    // falls back to the default rather than locking its owner out.
    let intensity: String = row.try_get("intensity")?;
    let level: String = row.try_get("context_compress_level")?;
    Ok(KeyRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        org_id: row.try_get("org_id")?,
        key_hash: row.try_get("key_hash")?,
        key_prefix: row.try_get("key_prefix")?,
        settings: KeySettings {
            name: row.try_get("name")?,
            intensity: intensity.parse().unwrap_or_default(),
            auto_compress_input: row.try_get::<i64, _>("auto_compress_input")? != 0,
            smart_detect_enabled: row.try_get::<i64, _>("smart_detect_enabled")? != 0,
            context_compress: row.try_get::<i64, _>("context_compress")? != 0,
            context_compress_level: level.parse().unwrap_or_default(),
            holdout_percent: row.try_get::<i64, _>("holdout_percent")?.clamp(0, 100) as u8,
        },
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn keys_from(rows: Vec<AnyRow>) -> Result<Vec<KeyRecord>, StoreError> {
    Ok(rows.iter().map(key_from).collect::<Result<_, _>>()?)
}

impl Store {
    /// Inserts a key; a name already used by an active key of the same user (personal
    /// keys) or org (org keys) → Conflict.
    pub async fn insert_key(&self, new: NewKey<'_>) -> Result<KeyRecord, StoreError> {
        let now = now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let s = new.settings;
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, org_id, key_hash, key_prefix, name, intensity, auto_compress_input, \
             smart_detect_enabled, context_compress, context_compress_level, holdout_percent, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&id)
        .bind(new.user_id)
        .bind(new.org_id)
        .bind(new.key_hash)
        .bind(new.key_prefix)
        .bind(&s.name)
        .bind(s.intensity.as_str())
        .bind(flag(s.auto_compress_input))
        .bind(flag(s.smart_detect_enabled))
        .bind(flag(s.context_compress))
        .bind(s.context_compress_level.as_str())
        .bind(i64::from(s.holdout_percent))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(conflict_aware)?;
        Ok(KeyRecord {
            id,
            user_id: new.user_id.to_owned(),
            org_id: new.org_id.map(str::to_owned),
            key_hash: new.key_hash.to_owned(),
            key_prefix: new.key_prefix.to_owned(),
            settings: s.clone(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// Active personal keys of a user (the plan's `max_keys` caps them).
    pub async fn count_active_keys(&self, user_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM api_keys WHERE user_id = $1 AND org_id IS NULL AND revoked_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Active keys of an org (the org plan's `max_keys` caps them).
    pub async fn count_active_org_keys(&self, org_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL")
            .bind(org_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The user's personal keys, newest first; revoked ones included (shown as inactive).
    pub async fn list_keys(&self, user_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 AND org_id IS NULL ORDER BY created_at DESC, id"
        );
        keys_from(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(&self.pool).await?)
    }

    /// An org's keys, newest first; revoked ones included.
    pub async fn list_org_keys(&self, org_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY created_at DESC, id");
        keys_from(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_all(&self.pool).await?)
    }

    pub async fn key_by_id(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(key_from).transpose()?)
    }

    /// The active key with this hash, if any: the proxy's cache-miss path.
    pub async fn active_key_by_hash(&self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(key_hash).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(key_from).transpose()?)
    }

    /// Keys whose settings or status changed at or after `since_ms`, for cache refresh.
    pub async fn keys_changed_since(&self, since_ms: i64) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE updated_at >= $1");
        keys_from(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since_ms).fetch_all(&self.pool).await?)
    }

    /// Saves new settings of an active key; a name clash with another active key → Conflict.
    pub async fn update_key_settings(&self, id: &str, s: &KeySettings) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_keys SET name = $1, intensity = $2, auto_compress_input = $3, smart_detect_enabled = $4, \
             context_compress = $5, context_compress_level = $6, holdout_percent = $7, updated_at = $8 WHERE id = $9",
        )
        .bind(&s.name)
        .bind(s.intensity.as_str())
        .bind(flag(s.auto_compress_input))
        .bind(flag(s.smart_detect_enabled))
        .bind(flag(s.context_compress))
        .bind(s.context_compress_level.as_str())
        .bind(i64::from(s.holdout_percent))
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(conflict_aware)?;
        Ok(())
    }

    /// Revokes a key; returns false when it was already revoked or does not exist.
    pub async fn revoke_key(&self, id: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1, updated_at = $2 WHERE id = $3 AND revoked_at IS NULL")
                .bind(now)
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
