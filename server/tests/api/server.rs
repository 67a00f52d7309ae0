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

crate::on_both_databases!(
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
