use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const CANCEL: &str = "/api/synchronous-cancellation/cancel";

async fn payment_status_code(app: &TestApp, order_id: &str) -> (i64, i64) {
    let p = app.payment(order_id).await;
    (p.status.code(), p.cancelled_minor)
}

async fn sandbox_refunded(app: &TestApp, tid: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT refunded_minor FROM sandbox_pg_orders WHERE code = $1")
        .bind(tid)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    n
}

async fn a_full_cancel_refunds_everything_once(db: Db) {
    let app = spawn_app(db).await;
    let paid = app.paid_payment("3065.00").await;
    let (status, body) = app.post_json(CANCEL, &cancel_request(&paid.order_id, &paid.tid, "3065", Some("0"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result_code"], "0000");
    assert_eq!(body["remain_amount"], "0.00");
    assert_eq!(payment_status_code(&app, &paid.order_id).await, (3, 306500));
    assert_eq!(sandbox_refunded(&app, &paid.tid).await, 306500);

    let before = app.snapshot().await;
    let (status, body) = app.post_json(CANCEL, &cancel_request(&paid.order_id, &paid.tid, "3065", Some("0"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["result_message"].as_str().unwrap().contains("already cancelled"));
    assert_eq!(app.snapshot().await, before);
    assert_eq!(sandbox_refunded(&app, &paid.tid).await, 306500);
}

async fn partial_cancels_add_up_to_a_full_cancel(db: Db) {
    let app = spawn_app(db).await;
    let paid = app.paid_payment("3065.00").await;
    let (status, body) =
        app.post_json(CANCEL, &cancel_request(&paid.order_id, &paid.tid, "1000.00", Some("2065.00"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["remain_amount"], "2065.00");
    assert_eq!(payment_status_code(&app, &paid.order_id).await, (7, 100000));

    // Repeating the same cancel no longer matches remain_amount: refused, nothing refunded.
    let before = app.snapshot().await;
    let (status, body) =
        app.post_json(CANCEL, &cancel_request(&paid.order_id, &paid.tid, "1000.00", Some("2065.00"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["result_message"].as_str().unwrap().contains("remain_amount"));
    assert_eq!(app.snapshot().await, before);

    // Above what remains: refused.
    let (status, body) = app.post_json(CANCEL, &cancel_request(&paid.order_id, &paid.tid, "2065.01", None)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["result_message"].as_str().unwrap().contains("exceeds"));
    assert_eq!(app.snapshot().await, before);

    // Through the Postman collection's alias, without remain_amount.
    let (status, body) =
        app.post_json("/api/synchronous-refund/cancel", &cancel_request(&paid.order_id, &paid.tid, "2065", None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(payment_status_code(&app, &paid.order_id).await, (3, 306500));
    assert_eq!(sandbox_refunded(&app, &paid.tid).await, 306500);

    let payment = app.payment(&paid.order_id).await;
    let history: Vec<(String, Option<i64>)> =
        app.state.store.payment_events(&payment.id).await.unwrap().into_iter().map(|e| (e.kind, e.to_status)).collect();
    assert_eq!(
        history,
        [
            ("payment.requested".into(), Some(1)),
            ("checkout.created".into(), None),
            ("payment.completed".into(), Some(2)),
            ("refund.requested".into(), None),
            ("payment.refunded".into(), Some(7)),
            ("refund.requested".into(), None),
            ("payment.refunded".into(), Some(3)),
        ]
    );
}

async fn twenty_identical_cancels_at_once_refund_once(db: Db) {
    let app = spawn_app(db).await;
    let paid = app.paid_payment("3065.00").await;
    let body = cancel_request(&paid.order_id, &paid.tid, "3065.00", Some("0"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url(CANCEL);
            let body = body.clone();
            tokio::spawn(async move {
                let response = client.post(url).json(&body).send().await.unwrap();
                let status = response.status();
                (status, response.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert!(!status.is_server_error(), "{status}: {body}");
        if status == StatusCode::OK {
            assert_eq!(body["result_code"], "0000");
            succeeded += 1;
        } else {
            assert_eq!(status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["result_code"], "9999");
        }
    }
    assert_eq!(succeeded, 1);
    assert_eq!(payment_status_code(&app, &paid.order_id).await, (3, 306500));
    assert_eq!(sandbox_refunded(&app, &paid.tid).await, 306500);
    assert_eq!(app.count("refunds").await, 1);
    assert_eq!(app.count("sandbox_pg_refunds").await, 1);
}

async fn bad_cancels_are_refused_and_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    let paid = app.paid_payment("3065.00").await;
    let unpaid_order = unique_order_id();
    app.request_payment(&unpaid_order, "100.00").await;
    let unpaid = app.payment(&unpaid_order).await;

    let mut bad_hash = cancel_request(&paid.order_id, &paid.tid, "100.00", None);
    bad_hash["cancel_amount"] = json!("3065.00");
    let mut unknown_partner = cancel_request(&paid.order_id, &paid.tid, "100.00", None);
    unknown_partner["partner_id"] = json!("nomall:0:x");
    unknown_partner["hash_data"] = json!(sign(&["100.00", "PHP", &paid.order_id, "nomall:0:x", &paid.tid]));
    let mut unpaid_cancel = cancel_request(&unpaid_order, unpaid.tid.as_deref().unwrap(), "100.00", None);
    unpaid_cancel["amount"] = json!("100.00");
    let mut wrong_amount = cancel_request(&paid.order_id, &paid.tid, "100.00", None);
    wrong_amount["amount"] = json!("9999.00");
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (bad_hash, StatusCode::UNAUTHORIZED, "hash_data"),
        (unknown_partner, StatusCode::NOT_FOUND, "partner_id"),
        (cancel_request(&unique_order_id(), &paid.tid, "100.00", None), StatusCode::NOT_FOUND, "no payment"),
        (cancel_request(&paid.order_id, "sbx_ord_other", "100.00", None), StatusCode::UNPROCESSABLE_ENTITY, "tid"),
        (wrong_amount, StatusCode::UNPROCESSABLE_ENTITY, "amount"),
        (cancel_request(&paid.order_id, &paid.tid, "0", None), StatusCode::CONFLICT, "greater than zero"),
        (cancel_request(&paid.order_id, &paid.tid, "3065.01", None), StatusCode::CONFLICT, "exceeds"),
        (cancel_request(&paid.order_id, &paid.tid, "1.001", None), StatusCode::UNPROCESSABLE_ENTITY, "decimals"),
        (unpaid_cancel, StatusCode::CONFLICT, "not paid"),
    ];
    let before = app.snapshot().await;
    for (body, status, part) in cases {
        let (got, answer) = app.post_json(CANCEL, &body).await;
        assert_eq!(got, status, "{answer}");
        assert_eq!(answer["result_code"], "9999");
        let message = answer["result_message"].as_str().unwrap();
        assert!(message.contains(part), "{message:?} should mention {part:?}");
    }
    assert_eq!(app.snapshot().await, before);
    assert_eq!(payment_status_code(&app, &paid.order_id).await, (2, 0));
}

async fn a_cancel_whose_answer_was_lost_is_finished_by_sending_it_again(db: Db) {
    let app = spawn_app(db).await;
    let paid = app.paid_payment("3065.00").await;
    // A second instance on the same database that cannot reach the PG.
    let cut_off = app.sibling(&[("SANDBOX_PG_URL", "http://127.0.0.1:9/sandbox-pg")]).await;
    let cancel = cancel_request(&paid.order_id, &paid.tid, "1000.00", Some("2065.00"));
    let (status, body) = cut_off.post_json(CANCEL, &cancel).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["result_message"].as_str().unwrap().contains("send the same cancel again"));
    assert_eq!(payment_status_code(&app, &paid.order_id).await, (2, 0));
    assert_eq!(sandbox_refunded(&app, &paid.tid).await, 0);

    // The reserved amount cannot be spent by another cancel meanwhile.
    let (status, body) = app.post_json(CANCEL, &cancel_request(&paid.order_id, &paid.tid, "3065.00", None)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["result_message"].as_str().unwrap().contains("being cancelled right now"));

    // Cafe24 retries the same cancel: it is finished, once.
    let (status, body) = app.post_json(CANCEL, &cancel).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["remain_amount"], "2065.00");
    assert_eq!(payment_status_code(&app, &paid.order_id).await, (7, 100000));
    assert_eq!(sandbox_refunded(&app, &paid.tid).await, 100000);
    assert_eq!(app.count("refunds").await, 1);
}

crate::on_both_databases!(
    a_cancel_whose_answer_was_lost_is_finished_by_sending_it_again,
    a_full_cancel_refunds_everything_once,
    partial_cancels_add_up_to_a_full_cancel,
    twenty_identical_cancels_at_once_refund_once,
    bad_cancels_are_refused_and_change_nothing,
);
