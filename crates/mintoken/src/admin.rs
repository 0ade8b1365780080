//! Administration commands of a self-hosted instance (`mintoken users …`, `mintoken keys
//! …`). They work on the same store `serve` uses; running instances pick the changes up
//! through their key-cache sync (see `auth::key_cache`).

use crate::api::auth_routes::{check_password_policy, normalize_email};
use crate::cli::{KeysCommand, UsersCommand};
use crate::clock::rfc3339;
use crate::config::Config;
use crate::store::{KeySettings, Store};

pub type AdminResult = Result<(), String>;

async fn open(store: &crate::cli::StoreArgs) -> Result<(Config, Store), String> {
    let config = Config::for_store(store).map_err(|e| e.to_string())?;
    let db = Store::open(&config).await.map_err(|e| e.to_string())?;
    Ok((config, db))
}

pub async fn users(command: UsersCommand) -> AdminResult {
    match command {
        UsersCommand::Create { email, password, store } => {
            let (config, db) = open(&store).await?;
            let email = normalize_email(&email).map_err(|e| e.detail)?;
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (crate::auth::random::alphanumeric(20), true),
            };
            check_password_policy(&password).map_err(|e| e.detail)?;
            let hash = crate::auth::password::hash(&password)?;
            let user = db.create_user(&email, Some(&hash), &config.default_plan).await.map_err(|e| match e {
                crate::store::StoreError::Conflict => format!("an account with email {email} already exists"),
                e => e.to_string(),
            })?;
            println!("created user {} ({}) on plan {}", user.email, user.id, user.plan);
            if generated {
                println!("password: {password}");
                println!("(shown once; keep it somewhere safe)");
            }
            Ok(())
        }
        UsersCommand::List { store } => {
            let (_, db) = open(&store).await?;
            for u in db.list_users().await.map_err(|e| e.to_string())? {
                println!("{}\t{}\t{}\t{}", u.id, u.email, u.plan, rfc3339(u.created_at));
            }
            Ok(())
        }
        UsersCommand::SetPlan { email, plan, store } => {
            let (config, db) = open(&store).await?;
            if config.plans.get(&plan).is_none() {
                let known: Vec<_> = config.plans.names().collect();
                return Err(format!("unknown plan {plan:?}; known plans: {}", known.join(", ")));
            }
            let email = normalize_email(&email).map_err(|e| e.detail)?;
            if !db.set_plan(&email, &plan).await.map_err(|e| e.to_string())? {
                return Err(format!("no account with email {email}"));
            }
            println!("{email} is now on the {plan} plan");
            Ok(())
        }
    }
}

pub async fn keys(command: KeysCommand) -> AdminResult {
    match command {
        KeysCommand::Create { user, name, intensity, store } => {
            let (config, db) = open(&store).await?;
            let user = find_user(&db, &user).await?;
            let settings = KeySettings {
                name,
                intensity: intensity.parse().map_err(|e| format!("--intensity: {e}"))?,
                ..KeySettings::default()
            };
            let (record, raw) =
                crate::api::create_key(&db, &config.plans, &user, &settings).await.map_err(|e| e.detail)?;
            println!("created key {} ({}) for {}", record.id, record.settings.name, user.email);
            println!("{}", raw.expose());
            eprintln!("(the raw key is shown once; store it now)");
            Ok(())
        }
        KeysCommand::List { user, store } => {
            let (_, db) = open(&store).await?;
            let user = find_user(&db, &user).await?;
            for k in db.list_keys(&user.id).await.map_err(|e| e.to_string())? {
                let state = if k.is_active() { "active" } else { "revoked" };
                let last = k.last_used_at.map(rfc3339).unwrap_or_else(|| "never".to_owned());
                println!(
                    "{}\t{}\t{}\t{}\t{}\tlast used {}",
                    k.id, k.key_prefix, k.settings.name, k.settings.intensity, state, last
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { id, store } => {
            let (_, db) = open(&store).await?;
            if db.key_by_id(&id).await.map_err(|e| e.to_string())?.is_none() {
                return Err(format!("no key with id {id}"));
            }
            if db.revoke_key(&id).await.map_err(|e| e.to_string())? {
                println!("revoked key {id}");
            } else {
                println!("key {id} was already revoked");
            }
            Ok(())
        }
    }
}

async fn find_user(db: &Store, email: &str) -> Result<crate::store::User, String> {
    let email = normalize_email(email).map_err(|e| e.detail)?;
    db.user_by_email(&email).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no account with email {email}"))
}
