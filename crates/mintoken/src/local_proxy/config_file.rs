//! `~/.mintoken/config.json`: the mintoken key saved by `mintoken login`, plus optional
//! defaults for `mintoken proxy` (`port`, `server`). The directory is created 0700 and the
//! file 0600 from the start (never world-readable, not even for an instant).
//! `MINTOKEN_KEY` in the environment overrides the stored key.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::api_key;
use crate::secret::Secret;

pub const DEFAULT_PORT: u16 = 8788;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret_opt")]
    pub key: Option<Secret<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

mod secret_opt {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Secret<String>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(k) => s.serialize_str(k.expose()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret<String>>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(Secret::new))
    }
}

/// `$HOME/.mintoken` (`%USERPROFILE%` on Windows).
pub fn dir() -> Result<PathBuf, String> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".mintoken"))
        .ok_or_else(|| "cannot find the home directory: set HOME".to_owned())
}

pub fn path() -> Result<PathBuf, String> {
    Ok(dir()?.join("config.json"))
}

impl ConfigFile {
    /// The stored configuration; an absent file is an empty one.
    pub fn load() -> Result<ConfigFile, String> {
        let path = path()?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{} is not valid: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the file owner-only, atomically (a temporary file renamed over it).
    pub fn save(&self) -> Result<PathBuf, String> {
        let dir = dir()?;
        create_private_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join("config.json");
        let tmp = dir.join(".config.json.tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&tmp);
        let write = || -> std::io::Result<()> {
            let mut f = create_private_file(&tmp)?;
            f.write_all(&text)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }
}

/// The key to use: `MINTOKEN_KEY`, else the stored one.
pub fn effective_key(file: &ConfigFile) -> Option<(Secret<String>, &'static str)> {
    if let Some(k) = std::env::var("MINTOKEN_KEY").ok().filter(|k| !k.trim().is_empty()) {
        return Some((Secret::new(k.trim().to_owned()), "MINTOKEN_KEY"));
    }
    file.key.clone().map(|k| (k, "config file"))
}

/// `mt_live_` + 40 alphanumerics, else an error saying what a key looks like.
pub fn validate_key(key: &str) -> Result<(), String> {
    if api_key::well_formed(key) {
        Ok(())
    } else {
        Err(format!(
            "that is not a mintoken key: keys look like {}… followed by 40 letters and digits (48 characters in all)",
            api_key::PREFIX
        ))
    }
}

/// The key as it may be shown: its 12-character prefix and an ellipsis.
pub fn mask(key: &str) -> String {
    let prefix: String = key.chars().take(12).collect();
    format!("{prefix}…")
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    // An existing directory may have been created wider by something else.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_validates() {
        let key = format!("mt_live_{}", "a1".repeat(20));
        assert!(validate_key(&key).is_ok());
        assert!(validate_key("mt_live_short").is_err());
        assert!(validate_key("sk-ant-123").is_err());
        assert_eq!(mask(&key), "mt_live_a1a1…");
    }

    #[test]
    fn key_is_never_in_debug_output() {
        let file = ConfigFile { key: Some(Secret::new("mt_live_canary".into())), port: None, server: None };
        assert!(!format!("{file:?}").contains("canary"));
        let json = serde_json::to_string(&file).unwrap();
        assert!(json.contains("mt_live_canary"));
        let back: ConfigFile = serde_json::from_str(&json).unwrap();
        assert_eq!(back.key.unwrap().expose(), "mt_live_canary");
    }
}
