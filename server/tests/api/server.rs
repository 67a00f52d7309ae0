use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;

async fn health_is_reported(db: Db) {
    let app = spawn_app(db).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["status"], "ok");
}

async fn the_demo_mall_buys_through_our_own_api(db: Db) {
    let app = spawn_app(db).await;
    let response = app
        .client
        .post(app.url("/demo-mall/checkout"))
        .form(&[("product", "ube"), ("quantity", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let payment_url = location(&response);
    assert!(payment_url.path().starts_with("/sandbox-pg/checkout/"));
    // The PG's page names the shop the buyer pays (the demo mall's shop 1), not the
    // merchant's public key.
    let pg_page = app.client.get(payment_url.clone()).send().await.unwrap().text().await.unwrap();
    assert!(pg_page.contains("<h1>Pay Tindahan</h1>"), "{pg_page}");
    assert!(!pg_page.contains(paybridge::sandbox::pg::DEMO_PUBLIC_KEY), "{pg_page}");
    let back = app.buyer_presses(payment_url.as_str(), "approve").await;
    assert_eq!(back.path(), "/demo-mall/return");
    let page = app.client.get(back).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("payment complete"), "{page}");
    assert!(page.contains("361.00"), "2 × 180.50 PHP");
    assert!(page.contains(">verified<"), "the demo mall checked hash_data");
}

async fn the_demo_mall_buys_asynchronously_and_hears_the_notifications(db: Db) {
    let app = spawn_app(db).await;
    let response = app
        .client
        .post(app.url("/demo-mall/checkout"))
        .form(&[("product", "barako"), ("quantity", "1"), ("flow", "async")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let payment_url = location(&response);
    let back = app.buyer_presses(payment_url.as_str(), "approve").await;
    assert_eq!(back.path(), "/demo-mall/return");
    let order_id = app
        .state
        .store
        .payment_by_tid("sandbox", payment_url.path().rsplit('/').next().unwrap())
        .await
        .unwrap()
        .unwrap()
        .order_id
        .into_string();
    app.wait_rows("demo_mall_notifications", &format!("order_id = '{order_id}'"), 1, Duration::from_secs(10)).await;
    let page = app.client.get(back).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("payment complete"), "{page}");
    assert!(page.contains("/demo-mall/noty"), "the received noty is listed");
    assert!(!page.contains("http-equiv=\"refresh\""), "nothing more is awaited: {page}");

    let payment = app.payment(&order_id).await;
    let response = app
        .client
        .post(app.url("/demo-mall/cancel"))
        .form(&[
            ("flow", "async"),
            ("order_id", order_id.as_str()),
            ("tid", payment.tid.as_deref().unwrap()),
            ("amount", "450.00"),
            ("cancel_amount", "450.00"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.text().await.unwrap().contains("Cancellation requested"));
    app.wait_rows("demo_mall_notifications", "endpoint = '/demo-mall/cancel-noty'", 1, Duration::from_secs(10)).await;
    assert_eq!(app.payment(&order_id).await.status.code(), 3);
}

/// The mall's page of an order whose notification has not come reloads itself, for two
/// minutes; the buyer back from the PG is not left looking at "waiting" for good.
async fn the_demo_malls_order_page_reloads_itself_while_a_noty_is_awaited(db: Db) {
    let app = spawn_app(db).await;
    let order_id = unique_order_id();
    let waiting = |waited: &str| {
        let url = app.url(&format!("/demo-mall/orders/{order_id}{waited}"));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let first = waiting("").await;
    assert!(first.contains("waiting for paybridge"), "{first}");
    let reload = format!("<meta http-equiv=\"refresh\" content=\"2;url=/demo-mall/orders/{order_id}?waited=1\">");
    assert!(first.contains(&reload), "{first}");
    let later = waiting("?waited=59").await;
    assert!(later.contains(&format!("url=/demo-mall/orders/{order_id}?waited=60")), "{later}");
    let given_up = waiting("?waited=60").await;
    assert!(!given_up.contains("http-equiv=\"refresh\""), "{given_up}");
    assert!(given_up.contains("refresh by hand"), "{given_up}");
    // The return page the PG sends the buyer to starts the same wait.
    let back = app.client.get(app.url(&format!("/api/shop/pgsuccess?order_id={order_id}"))).send().await.unwrap();
    assert!(back.text().await.unwrap().contains(&reload));
}

/// SPEC §8.1: with the sandbox on, the demo mall's Store API key is printed at start —
/// the public default in full, a configured one only by its prefix and last 4.
async fn the_demo_malls_api_key_is_printed_at_start(db: Db) {
    let configured = "sk_test_configured_0123456789wxyz";
    for (overrides, shown, hidden) in [
        (vec![], "sk_test_paybridge_demomall", None),
        (vec![("SANDBOX_API_KEY", configured)], "sk_test_…wxyz", Some(configured)),
    ] {
        let (vars, _db) = environment(db, &overrides).await;
        let log_path = std::env::temp_dir().join(format!("paybridge-log-{}.txt", uuid::Uuid::new_v4().simple()));
        let (mut server, _) =
            start_process(&vars, std::process::Stdio::from(std::fs::File::create(&log_path).unwrap())).await;
        server.kill().unwrap();
        server.wait().unwrap();
        let logs = std::fs::read_to_string(&log_path).unwrap();
        let _ = std::fs::remove_file(&log_path);
        assert!(logs.contains("paybridge is listening"), "the log was captured: {logs}");
        let line =
            logs.lines().find(|l| l.contains("SANDBOX_API_KEY")).unwrap_or_else(|| panic!("not printed: {logs}"));
        assert!(line.contains(shown), "{line}");
        if let Some(hidden) = hidden {
            assert!(!logs.contains(hidden), "a configured key is never printed whole");
        }
    }
}

crate::on_both_databases!(
    the_demo_malls_order_page_reloads_itself_while_a_noty_is_awaited,
    the_demo_malls_api_key_is_printed_at_start,
    the_demo_mall_buys_asynchronously_and_hears_the_notifications,
    health_is_reported,
    the_demo_mall_buys_through_our_own_api,
);

#[test]
fn bad_configuration_stops_the_binary_with_the_variable_named() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .env("DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
