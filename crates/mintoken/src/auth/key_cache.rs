//! The proxy authenticates mintoken keys from this in-memory cache, keyed by the key's
//! SHA-256. Only a cache miss reads the database, once; after that the hot path never
//! waits on it. Revocation through this instance evicts at once; changes made elsewhere
//! (another instance, the admin CLI) arrive through `crate::cache_sync`, which bounds
//! how long a key revoked elsewhere can still be used.

use super::api_key;
use crate::store::{KeyRecord, KeySettings, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// What the proxy needs to know about an authenticated key.
#[derive(Debug, Clone)]
pub struct AuthedKey {
    pub key_id: String,
    pub user_id: String,
    pub settings: KeySettings,
    pub plan: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyAuthError {
    #[error("Invalid API key")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct KeyCache {
    store: Store,
    by_hash: RwLock<HashMap<String, Arc<AuthedKey>>>,
}

impl KeyCache {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(KeyCache { store, by_hash: RwLock::new(HashMap::new()) })
    }

    pub async fn authenticate(&self, raw_key: &str) -> Result<Arc<AuthedKey>, KeyAuthError> {
        if !api_key::well_formed(raw_key) {
            return Err(KeyAuthError::Invalid);
        }
        let hash = super::sha256_hex(raw_key);
        if let Some(hit) = self.read().get(&hash) {
            return Ok(hit.clone());
        }
        let Some(record) = self.store.active_key_by_hash(&hash).await? else {
            return Err(KeyAuthError::Invalid);
        };
        let Some(user) = self.store.user_by_id(&record.user_id).await? else {
            return Err(KeyAuthError::Invalid);
        };
        let authed = Arc::new(AuthedKey {
            key_id: record.id,
            user_id: record.user_id,
            settings: record.settings,
            plan: user.plan,
        });
        self.write().insert(hash, authed.clone());
        Ok(authed)
    }

    /// Applies a key's new state: settings replaced, or evicted when revoked.
    pub fn apply(&self, record: &KeyRecord) {
        let mut map = self.write();
        if !record.is_active() {
            map.remove(&record.key_hash);
        } else if let Some(entry) = map.get_mut(&record.key_hash) {
            let mut updated = (**entry).clone();
            updated.settings = record.settings.clone();
            *entry = Arc::new(updated);
        }
    }

    /// A user's plan changed: the next request of each of their keys sees it.
    pub fn apply_plan(&self, user_id: &str, plan: &str) {
        for entry in self.write().values_mut() {
            if entry.user_id == user_id && entry.plan != plan {
                let mut updated = (**entry).clone();
                updated.plan = plan.to_owned();
                *entry = Arc::new(updated);
            }
        }
    }

    /// Applies key and plan changes made at or after `since` (by anyone).
    pub async fn sync_once(&self, since: i64) -> Result<(), StoreError> {
        if self.read().is_empty() {
            return Ok(());
        }
        for record in self.store.keys_changed_since(since).await? {
            self.apply(&record);
        }
        for (user_id, plan) in self.store.plans_changed_since(since).await? {
            self.apply_plan(&user_id, &plan);
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<AuthedKey>>> {
        // A panic while holding the lock cannot leave the map half-updated (every
        // write is a single insert/remove), so a poisoned lock is still usable.
        self.by_hash.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<AuthedKey>>> {
        self.by_hash.write().unwrap_or_else(|e| e.into_inner())
    }
}
