//! `polyvox keys create|list|revoke`: API keys in the job database. The token is printed once at
//! creation; only its hash is stored.

use anyhow::Context;
use polyvox_infra::tenancy::{ApiKey, KeyLimits, KeyStore, SqlTenancy};

use crate::cli::{InfraArgs, KeysAction};
use crate::infra;

pub fn run(action: KeysAction, args: &InfraArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = infra::connect_db(args).await?;
        store
            .migrate()
            .await
            .context("migrating the job database")?;
        let keys = SqlTenancy::new(&store);
        let out = act(&keys, action).await;
        store.close().await;
        out
    })
}

async fn act(keys: &SqlTenancy, action: KeysAction) -> anyhow::Result<()> {
    match action {
        KeysAction::Create {
            name,
            requests_per_minute,
            chars_per_minute,
            monthly_chars,
            max_concurrent,
            json,
        } => {
            let limits = KeyLimits {
                requests_per_minute,
                chars_per_minute,
                monthly_chars,
                concurrent_syntheses: max_concurrent,
            };
            let created = keys.create_key(&name, limits).await?;
            if json {
                let mut v = serde_json::to_value(&created.key)?;
                v["token"] = created.token.clone().into();
                println!("{v}");
            } else {
                println!("created key {} ({})", created.key.id, created.key.name);
                println!("token (shown once, store it now): {}", created.token);
            }
        }
        KeysAction::List { json } => {
            let all = keys.list_keys().await?;
            if json {
                println!("{}", serde_json::to_string(&all)?);
            } else {
                print_table(&all);
            }
        }
        KeysAction::Revoke { id } => {
            let key = keys
                .revoke_key(id.trim())
                .await
                .with_context(|| format!("revoking key '{id}'"))?;
            println!("revoked key {} ({})", key.id, key.name);
        }
    }
    Ok(())
}

fn limit(v: Option<u64>, none: &str) -> String {
    match v {
        None => none.to_string(),
        Some(0) => "unlimited".to_string(),
        Some(n) => n.to_string(),
    }
}

fn print_table(keys: &[ApiKey]) {
    println!(
        "{:<16}  {:<24}  {:>10}  {:>10}  {:>12}  {:>10}  status",
        "id", "name", "req/min", "chars/min", "chars/month", "concurrent"
    );
    for k in keys {
        println!(
            "{:<16}  {:<24}  {:>10}  {:>10}  {:>12}  {:>10}  {}",
            k.id,
            k.name.chars().take(24).collect::<String>(),
            limit(k.limits.requests_per_minute, "default"),
            limit(k.limits.chars_per_minute, "default"),
            k.limits
                .monthly_chars
                .map_or_else(|| "none".to_string(), |q| q.to_string()),
            limit(k.limits.concurrent_syntheses, "default"),
            if k.is_revoked() { "revoked" } else { "active" }
        );
    }
}
