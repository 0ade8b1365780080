//! Each user's compiled rules, in memory: read from the store on the user's first
//! request that needs them, replaced when the user changes rules through this
//! instance, and dropped when the periodic sync sees a change made elsewhere — so the
//! proxy path reads the database at most once per user and change.

use super::RuleSet;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub struct RuleCache {
    store: Store,
    by_user: RwLock<HashMap<String, Arc<RuleSet>>>,
}

impl RuleCache {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(RuleCache { store, by_user: RwLock::new(HashMap::new()) })
    }

    pub async fn rules_of(&self, user_id: &str) -> Result<Arc<RuleSet>, StoreError> {
        if let Some(set) = self.by_user.read().unwrap_or_else(|e| e.into_inner()).get(user_id) {
            return Ok(set.clone());
        }
        let set = Arc::new(RuleSet::new(&self.store.rules_of_user(user_id).await?));
        self.by_user.write().unwrap_or_else(|e| e.into_inner()).insert(user_id.to_owned(), set.clone());
        Ok(set)
    }

    /// The user's rules changed: the next request reloads them.
    pub fn invalidate(&self, user_id: &str) {
        self.by_user.write().unwrap_or_else(|e| e.into_inner()).remove(user_id);
    }

    /// Drops the cached rules of users whose rules changed at or after `since_ms`.
    pub async fn sync_once(&self, since_ms: i64) -> Result<(), StoreError> {
        if self.by_user.read().unwrap_or_else(|e| e.into_inner()).is_empty() {
            return Ok(());
        }
        for user_id in self.store.rule_owners_changed_since(since_ms).await? {
            self.invalidate(&user_id);
        }
        Ok(())
    }
}
