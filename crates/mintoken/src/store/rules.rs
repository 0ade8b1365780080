//! Custom intensity rules.

use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::rules::Rule;
use sqlx::Row;

impl Store {
    pub async fn insert_rule(
        &self,
        user_id: &str,
        rule_type: &str,
        pattern: &str,
        priority: i64,
    ) -> Result<Rule, StoreError> {
        let now = now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO rules (id, user_id, rule_type, pattern, priority, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(rule_type)
        .bind(pattern)
        .bind(priority)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let rule_type = rule_type.parse().map_err(|_| StoreError::Conflict)?;
        Ok(Rule { id, rule_type, pattern: pattern.to_owned(), priority, created_at: now })
    }

    /// The user's live rules, highest priority first.
    pub async fn rules_of_user(&self, user_id: &str) -> Result<Vec<Rule>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, rule_type, pattern, priority, created_at FROM rules \
             WHERE user_id = $1 AND deleted_at IS NULL ORDER BY priority DESC, created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let mut rules = Vec::with_capacity(rows.len());
        for r in &rows {
            let rule_type: String = r.try_get("rule_type")?;
            // Types are validated on the way in; an unknown one (edited by hand) is skipped.
            let Ok(rule_type) = rule_type.parse() else { continue };
            rules.push(Rule {
                id: r.try_get("id")?,
                rule_type,
                pattern: r.try_get("pattern")?,
                priority: r.try_get("priority")?,
                created_at: r.try_get("created_at")?,
            });
        }
        Ok(rules)
    }

    pub async fn count_rules(&self, user_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM rules WHERE user_id = $1 AND deleted_at IS NULL")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Deletes one of the user's rules; false when there is no such live rule.
    pub async fn delete_rule(&self, user_id: &str, id: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE rules SET deleted_at = $1, updated_at = $2 WHERE id = $3 AND user_id = $4 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Users whose rules changed at or after `since_ms`, for cache refresh.
    pub async fn rule_owners_changed_since(&self, since_ms: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT user_id FROM rules WHERE updated_at >= $1")
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.try_get("user_id")).collect::<Result<_, sqlx::Error>>()?)
    }
}
