//! Secrets at rest (SPEC §7): nothing readable in the database files or the logs, and
//! key rotation.

use std::process::Stdio;

use paybridge::{secrets::KeyRing, store::Store};
use reqwest::StatusCode;
use serde_json::json;

use crate::{admin_helpers::*, helpers::*};

/// Everything the database holds, as bytes: the SQLite files, or every PostgreSQL row as text.
pub(crate) async fn database_bytes(db: Db, database_url: &str, store: &Store) -> Vec<u8> {
    match db {
        Db::Sqlite => {
            let path = database_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                    bytes.extend(b);
                }
            }
            assert!(bytes.len() > 10_000, "read the database files");
            bytes
        }
        Db::Postgres => {
            let tables: Vec<(String,)> =
                sqlx::query_as("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
            let mut text = String::new();
            for (table,) in tables {
                let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT CAST(t AS TEXT) FROM \"{table}\" t"))
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
                rows.into_iter().for_each(|(r,)| text.push_str(&r));
            }
            text.into_bytes()
        }
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn no_secret_or_token_is_stored_or_logged_in_plain_text(db: Db) {
    let (vars, _db) = environment(db, &[("RUST_LOG", "debug")]).await;
    let log_path = std::env::temp_dir().join(format!("paybridge-log-{}.txt", uuid::Uuid::new_v4().simple()));
    let log = std::fs::File::create(&log_path).unwrap();
    let (mut server, base) = start_process(&vars, Stdio::from(log)).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let merchant = sign_in_at(&client, &base, "demomall", "en_US").await;
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(base.join(path).unwrap())
            .header("cookie", &merchant.cookie)
            .header("X-CSRF-Token", &merchant.csrf)
            .json(&body)
            .send()
    };
    let linked = post(
        "/admin/link",
        json!({"mall_id": "demomall", "public_key": "demo-app-public-key", "secret_key": "demo-app-secret-key"}),
    )
    .await
    .unwrap();
    assert_eq!(linked.status(), StatusCode::OK);
    let enabled =
        post("/admin/shop/toggle", json!({"mall_id": "demomall", "action": "enable", "shop_no": 2})).await.unwrap();
    assert_eq!(enabled.status(), StatusCode::OK);
    // A payment and a refund use the PG secret too.
    let order_id = unique_order_id();
    let answer: serde_json::Value = client
        .post(base.join("/api/synchronous-checkout/checkout").unwrap())
        .json(&payment_request(&order_id, "100.00"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payment_url = answer["payment_url"].as_str().unwrap();
    let callback = location(&client.post(format!("{payment_url}/approve")).send().await.unwrap());
    let back = location(&client.get(callback).send().await.unwrap());
    assert_eq!(query_map(&back)["result_code"], "0000");

    let store = Store::connect(&vars["DATABASE_URL"]).await.unwrap();
    let keys = KeyRing::parse_list(&vars["ENCRYPTION_KEY"]).unwrap();
    let tokens = store.tokens(&keys, "demomall").await.unwrap().expect("tokens kept");
    server.kill().unwrap();
    server.wait().unwrap();

    let session_id = merchant.cookie.trim_start_matches("pb_session=").to_owned();
    let secrets = [
        ("the PG secret key", "demo-app-secret-key".to_owned()),
        ("the access token", tokens.access_token.clone()),
        ("the refresh token", tokens.refresh_token.clone()),
        ("the session id", session_id),
        ("the client secret", CLIENT_SECRET.to_owned()),
        ("the service key", SERVICE_KEY.to_owned()),
        ("the encryption key", vars["ENCRYPTION_KEY"].clone()),
    ];
    let database = database_bytes(db, &vars["DATABASE_URL"], &store).await;
    let logs = std::fs::read(&log_path).unwrap();
    assert!(contains(&logs, "paybridge is listening"), "the log was captured");
    for (name, secret) in &secrets {
        assert!(!contains(&database, secret), "{name} is in the database in plain text");
        assert!(!contains(&logs, secret), "{name} is in the logs");
    }
    store.close().await;
    let _ = std::fs::remove_file(log_path);
}

async fn rotating_keys_reencrypts_every_secret(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let old_key = app.var("ENCRYPTION_KEY").to_owned();
    let new_key = KeyRing::generate_encoded();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("rotate-keys")
        .env("DATABASE_URL", app.var("DATABASE_URL"))
        .env("ENCRYPTION_KEY", format!("{new_key},{old_key}"))
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("re-encrypted 2 rows"), "{output:?}");

    let new_id = KeyRing::parse_list(&new_key).unwrap().current_key_id().to_owned();
    let sealed: Vec<(String,)> = sqlx::query_as(
        "SELECT secret_key_enc FROM pg_credentials UNION ALL SELECT access_token_enc FROM oauth_tokens \
         UNION ALL SELECT refresh_token_enc FROM oauth_tokens",
    )
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(sealed.len(), 3);
    assert!(sealed.iter().all(|(s,)| s.split('.').nth(1) == Some(new_id.as_str())), "{sealed:?}");

    // An instance with only the new key reads the credentials and the tokens.
    let next = app.sibling(&[("ENCRYPTION_KEY", new_key.as_str())]).await;
    next.request_payment(&unique_order_id(), "10.00").await;
    let (status, body) = next
        .admin_post(
            "/admin/shop/toggle",
            Some(&merchant.cookie),
            Some(&merchant.csrf),
            &json!({"mall_id": "demomall", "action": "enable", "shop_no": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

crate::on_both_databases!(no_secret_or_token_is_stored_or_logged_in_plain_text, rotating_keys_reencrypts_every_secret);
