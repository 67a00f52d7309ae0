//! The buyer's side of the Store API v2: our hosted page `/pay/{id}` (the intent's
//! `paymentUrl`, a Leptos page) answers each state of the payment with its HTTP status,
//! and its JSON status `/pay/{id}/status` tells the page where the buyer goes.

use paybridge::store::now_ms;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

pub struct Page {
    pub status: StatusCode,
    pub cache_control: String,
    html: String,
}

impl TestApp {
    pub async fn pay_page(&self, id: &str) -> Page {
        let response = self.client.get(self.url(&format!("/pay/{id}"))).send().await.unwrap();
        let status = response.status();
        let cache_control =
            response.headers().get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Page { status, cache_control, html: response.text().await.unwrap() }
    }

    async fn pay_status(&self, id: &str) -> (StatusCode, Value) {
        let response = self.client.get(self.url(&format!("/pay/{id}/status"))).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}

fn id_of(payment: &Value) -> String {
    payment["id"].as_str().unwrap().to_owned()
}

async fn the_hosted_page_shows_each_state_of_the_payment_with_its_http_status(db: Db) {
    let app = spawn_app(db).await;

    // Open: the order, the amount, and the way on to the PG.
    let intent = app.intent(json!({"orderName": "Kape & pandesal"})).await;
    let id = id_of(&intent);
    let checkout = intent["pgResponse"]["checkoutUrl"].as_str().unwrap();
    let page = app.pay_page(&id).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.cache_control, "no-store");
    assert!(page.html.contains("Kape &amp; pandesal"), "{}", page.html);
    assert!(page.html.contains("150.00 PHP"));
    assert!(page.html.contains("Tindahan"), "the merchant's shop");
    assert!(page.html.contains(&format!(r#"data-testid="pay-continue" href="{checkout}""#)), "{}", page.html);
    let (status, open) = app.pay_status(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open, json!({"status": "REQUEST", "statusCode": 1, "outcome": "open", "redirectUrl": null}));

    // Paid (here, at the PG's page): shown in place, no button, still 200; the status says
    // where the buyer goes — the store's successUrl, as the buyer's return would.
    app.buyer_pays(&intent, "approve").await;
    let page = app.pay_page(&id).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("This order is paid."), "{}", page.html);
    assert!(!page.html.contains("pay-continue"));
    let (_, paid) = app.pay_status(&id).await;
    let success =
        format!("{}?paymentId={id}&orderId={}", app.url("/store/success"), intent["orderId"].as_str().unwrap());
    assert_eq!(paid, json!({"status": "COMPLETE", "statusCode": 2, "outcome": "paid", "redirectUrl": success}));

    // Canceled by the store before the buyer paid: 410, and the store's failUrl.
    let canceled = app.intent(json!({})).await;
    let canceled_id = id_of(&canceled);
    let answer =
        app.v2_post(&format!("/api/v2/payments/{canceled_id}/cancel"), &json!({"reason": "out of stock"})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let page = app.pay_page(&canceled_id).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.html.contains("The shop canceled this payment."), "{}", page.html);
    assert!(!page.html.contains("pay-continue"));
    let (_, status) = app.pay_status(&canceled_id).await;
    let fail = format!("{}?paymentId={canceled_id}&code=canceled", app.url("/store/fail"));
    assert_eq!(status, json!({"status": "FAIL", "statusCode": 4, "outcome": "canceled", "redirectUrl": fail}));

    // Past its expiry, before the worker marks it: already gone.
    let late = id_of(&app.intent(json!({})).await);
    sqlx::query("UPDATE payments SET expires_at = $1 WHERE id = $2")
        .bind(now_ms() - 1)
        .bind(&late)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let page = app.pay_page(&late).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.html.contains("This payment has expired"), "{}", page.html);
    let (_, status) = app.pay_status(&late).await;
    assert_eq!((status["status"].as_str(), status["outcome"].as_str()), (Some("REQUEST"), Some("expired")));
    assert_eq!(status["redirectUrl"], format!("{}?paymentId={late}&code=expired", app.url("/store/fail")));

    // Declined at the PG.
    let declined = app.intent(json!({})).await;
    app.buyer_pays(&declined, "decline").await;
    assert_eq!(app.pay_page(&id_of(&declined)).await.status, StatusCode::GONE);
    assert_eq!(app.pay_status(&id_of(&declined)).await.1["outcome"], "failed");

    // No such payment, or one that is not the Store API's (a Cafe24 payment): 404.
    let cafe24 = app.paid_payment("3065.00").await;
    let cafe24_id = app.payment(&cafe24.order_id).await.id.to_string();
    for unknown in ["pay_doesnotexist", "not-an-id", cafe24_id.as_str()] {
        let page = app.pay_page(unknown).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{unknown}");
        assert!(page.html.contains("No such payment"), "{}", page.html);
        assert_eq!(
            app.pay_status(unknown).await,
            (StatusCode::NOT_FOUND, json!({"error": "there is no such payment"}))
        );
    }
}

crate::on_both_databases!(the_hosted_page_shows_each_state_of_the_payment_with_its_http_status);
