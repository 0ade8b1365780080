//! The proxy authenticates mintoken keys from this in-memory cache, keyed by the key's
//! SHA-256. Only a cache miss reads the database, once; after that the hot path never
//! waits on it. Revocation through this instance evicts at once; changes made elsewhere
//! (another instance, the admin CLI) arrive through `crate::cache_sync`, which bounds
//! how long a key revoked elsewhere can still be used.

use super::api_key;
use crate::store::{KeyRecord, KeySettings, OrgOwner, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// What the proxy needs to know about an authenticated key.
#[derive(Debug, Clone)]
pub struct AuthedKey {
    pub key_id: String,
    /// The key's owner (personal key) or creator (org key).
    pub user_id: String,
    /// Set for an org key.
    pub org_id: Option<String>,
    /// Whose plan applies: the user's own for a personal key, the org owner's for an
    /// org key (an org is on its owner's plan, SPEC §9).
    pub plan_user_id: String,
    pub settings: KeySettings,
    pub plan: String,
}

impl AuthedKey {
    /// The account the quota and the rate limit count against: the org for an org key,
    /// the user for a personal one.
    pub fn account_id(&self) -> &str {
        self.org_id.as_deref().unwrap_or(&self.user_id)
    }
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
        let (plan_user_id, plan) = match &record.org_id {
            Some(org_id) => match self.store.org_owner(org_id).await? {
                Some(owner) => (owner.user_id, owner.plan),
                None => return Err(KeyAuthError::Invalid),
            },
            None => match self.store.user_by_id(&record.user_id).await? {
                Some(user) => (user.id, user.plan),
                None => return Err(KeyAuthError::Invalid),
            },
        };
        let authed = Arc::new(AuthedKey {
            key_id: record.id,
            user_id: record.user_id,
            org_id: record.org_id,
            plan_user_id,
            settings: record.settings,
            plan,
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

    /// A user's plan changed: the next request of each of their keys, and of the keys
    /// of the orgs they own, sees it.
    pub fn apply_plan(&self, user_id: &str, plan: &str) {
        for entry in self.write().values_mut() {
            if entry.plan_user_id == user_id && entry.plan != plan {
                let mut updated = (**entry).clone();
                updated.plan = plan.to_owned();
                *entry = Arc::new(updated);
            }
        }
    }

    /// An org's ownership moved: its keys are now on the new owner's plan.
    pub fn apply_org_owner(&self, owner: &OrgOwner) {
        for entry in self.write().values_mut() {
            if entry.org_id.as_deref() == Some(&owner.org_id)
                && (entry.plan_user_id != owner.user_id || entry.plan != owner.plan)
            {
                let mut updated = (**entry).clone();
                updated.plan_user_id = owner.user_id.clone();
                updated.plan = owner.plan.clone();
                *entry = Arc::new(updated);
            }
        }
    }

    /// Applies key, plan and org-ownership changes made at or after `since` (by anyone).
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
        for owner in self.store.org_owners_changed_since(since).await? {
            self.apply_org_owner(&owner);
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
