use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn sync_checkout_is_paid_end_to_end(db: Db) {
    let app = spawn_app(db).await;
    let order_id = unique_order_id();

    let payment_url = app.request_payment(&order_id, "3065.00").await;
    assert!(payment_url.starts_with(app.url("/sandbox-pg/checkout/").as_str()), "{payment_url}");
    let page = app.client.get(&payment_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("3065.00 PHP"), "the hosted page shows the amount");

    let back = app.buyer_presses(&payment_url, "approve").await;
    assert_eq!(back.host_str(), Some("demomall.cafe24shop.com"));
    assert_eq!(back.path(), "/Pay/Recv/openpg/PayReceiveRtnPage.php");
    let params = query_map(&back);
    assert_eq!(params["result_code"], "0000");
    let extra: serde_json::Value = serde_json::from_str(&params["extra_data"]).unwrap();
    assert_eq!(extra, json!({"pgName": "pg-demo-app", "orderId": order_id}), "extra_data echoed");
    let key = &params["key"];
    assert!(key.len() >= 43, "key carries at least 128 random bits: {key}");
    assert!(!key.contains(&order_id));

    let (status, details) = app.status(key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(details["result_code"], "0000");
    assert_eq!(details["payed_tf"], "T");
    assert_eq!(details["amount"], "3065.00");
    assert_eq!(details["currency"], "PHP");
    assert_eq!(details["order_id"], order_id.as_str());
    assert_eq!(details["partner_id"], PARTNER_ID);
    assert_eq!(details["cancel_mode"], "sync");
    assert_eq!(details["part_cancel_tf"], "T");
    let tid = details["tid"].as_str().unwrap();
    assert!(tid.starts_with("sbx_ord_"));
    assert_eq!(details["hash_data"], sign(&["3065.00", "PHP", &order_id, PARTNER_ID, tid]));

    let payment = app.payment(&order_id).await;
    let kinds: Vec<String> =
        app.state.store.payment_events(&payment.id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["payment.requested", "checkout.created", "payment.completed"]);

    // The buyer reloads the callback: same answer, nothing recorded twice.
    let again = app.buyer_presses(&payment_url, "return").await;
    assert_eq!(query_map(&again)["result_code"], "0000");
    assert_eq!(app.state.store.payment_events(&payment.id).await.unwrap().len(), 3);
}

async fn a_form_encoded_request_works_like_json(db: Db) {
    let app = spawn_app(db).await;
    let order_id = unique_order_id();
    let json_body = payment_request(&order_id, "150.50");
    let mut form: Vec<(String, String)> = Vec::new();
    for (k, v) in json_body.as_object().unwrap() {
        match v {
            serde_json::Value::String(s) => form.push((k.clone(), s.clone())),
            serde_json::Value::Null => {}
            other => form.push((k.clone(), other.to_string())),
        }
    }
    let body = serde_urlencoded::to_string(&form).unwrap();
    let (status, answer) = app
        .post_raw("/api/synchronous-checkout/checkout", "application/x-www-form-urlencoded", body.into_bytes())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result_code"], "0000");
    let payment = app.payment(&order_id).await;
    assert_eq!(payment.amount.minor, 15050);
    assert_eq!(app.cafe24_amount_text(&order_id).await, "150.50");
}

async fn the_same_request_again_returns_the_same_payment_page(db: Db) {
    let app = spawn_app(db).await;
    let order_id = unique_order_id();
    let first = app.request_payment(&order_id, "3065.00").await;
    let body = payment_request(&order_id, "3065.00");
    let concurrent =
        futures::future::join_all((0..10).map(|_| app.post_json("/api/synchronous-checkout/checkout", &body))).await;
    for (status, body) in concurrent {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["payment_url"], first.as_str());
    }
    assert_eq!(app.count("payments").await, 1);
    assert_eq!(app.count("sandbox_pg_orders").await, 1);
}

async fn a_declined_or_abandoned_payment_is_reported_as_such(db: Db) {
    let app = spawn_app(db).await;
    for (button, code) in [("decline", "0001"), ("cancel", "9999")] {
        let order_id = unique_order_id();
        let payment_url = app.request_payment(&order_id, "100.00").await;
        let back = app.buyer_presses(&payment_url, button).await;
        let params = query_map(&back);
        assert_eq!(params["result_code"], code, "{button}");
        let (status, details) = app.status(&params["key"]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(details["payed_tf"], "F");
        assert_eq!(details["result_code"], "1400");
        let payment = app.payment(&order_id).await;
        assert_eq!(payment.status.code(), 4, "Fail");
        // A failed payment stays failed: the same order cannot be paid again.
        let (status, body) =
            app.post_json("/api/synchronous-checkout/checkout", &payment_request(&order_id, "100.00")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
}

async fn a_callback_before_the_buyer_decides_changes_nothing(db: Db) {
    let app = spawn_app(db).await;
    let order_id = unique_order_id();
    let payment_url = app.request_payment(&order_id, "100.00").await;
    let payment = app.payment(&order_id).await;
    // A forged callback claiming success: we ask the PG, which says it is still open.
    let forged = app.url(&format!(
        "/api/synchronous-checkout/checkout/callback?reference_no={}&status=paid&order_code={}",
        payment.id,
        payment.tid.as_deref().unwrap()
    ));
    let response = app.client.get(forged).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(query_map(&location(&response))["result_code"], "0001");
    let after = app.state.store.payment(&payment.id).await.unwrap().unwrap();
    assert_eq!(after.status.code(), 1);
    // The buyer can still pay.
    let back = app.buyer_presses(&payment_url, "approve").await;
    assert_eq!(query_map(&back)["result_code"], "0000");
}

crate::on_both_databases!(
    sync_checkout_is_paid_end_to_end,
    a_form_encoded_request_works_like_json,
    the_same_request_again_returns_the_same_payment_page,
    a_declined_or_abandoned_payment_is_reported_as_such,
    a_callback_before_the_buyer_decides_changes_nothing,
);
