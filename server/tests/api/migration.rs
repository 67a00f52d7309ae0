//! The payment-core migration (`20261202000001_payment_core.sql`) on a database that holds
//! rows of the schema before it: every payment, event, refund and notification comes
//! through, Cafe24's fields land in Cafe24's tables, and the app serves them as before.

use paybridge::{
    domain::{Channel, PaymentId, PendingReason, RefundId, RefundMode, RefundStatus},
    store::{Acceptance, Flow, Store},
};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// The last migration before the payment core.
const BEFORE_CORE: i64 = 20261124000001;

const SYNC_PAID: &str = "pay_0123456789abcdef0123456789abcdef";
const EXTERNAL_OPEN: &str = "pay_fedcba9876543210fedcba9876543210";
const DEPOSIT_PENDING: &str = "pay_00000000000000000000000000000005";
const REFUND: &str = "rfd_0123456789abcdef0123456789abcdef";

async fn exec(store: &Store, sql: &str) {
    sqlx::query(sql).execute(store.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Rows as the app wrote them before the payment core existed.
async fn old_rows(store: &Store) {
    exec(store, "INSERT INTO malls (mall_id, created_at) VALUES ('oldmall', 1)").await;
    exec(
        store,
        "INSERT INTO payments (id, mall_id, shop_no, partner_id, flow, order_id, currency, amount_minor, amount_text, \
         cancelled_minor, status, failure_reason, paymethod, gateway, tid, payment_url, status_key, return_url, \
         return_noty_url, extra_data, goods_name, created_at, updated_at, external_order) VALUES \
         ('pay_0123456789abcdef0123456789abcdef', 'oldmall', 1, 'oldmall:1:abc', 'sync', '20261101-0000001', 'PHP', \
          306500, '3065.00', 100000, 7, NULL, 'card', 'sandbox', 'sbx_ord_1', 'https://pg/1', 'old-status-key', \
          'https://oldmall.cafe24shop.com/return', NULL, '{\"a\":1}', 'Basic Product', 10, 20, NULL), \
         ('pay_fedcba9876543210fedcba9876543210', 'oldmall', 1, 'oldmall:1:abc', 'external', '20261101-0000002', \
          'PHP', 28050, '280.50', 0, 1, NULL, 'etc', 'sandbox', 'sbx_ord_2', 'https://pg/2', 'old-key-2', \
          'https://oldmall.cafe24shop.com', 'https://oldmall.cafe24shop.com/noty', NULL, 'Ube', 30, 40, '[{\"p\":1}]'), \
         ('pay_00000000000000000000000000000005', 'oldmall', 1, 'oldmall:1:abc', 'async', '20261101-0000003', \
          'PHP', 50000, '500', 0, 5, NULL, 'etc', 'sandbox', 'sbx_ord_3', 'https://pg/3', 'old-key-3', \
          'https://oldmall.cafe24shop.com/return', 'https://oldmall.cafe24shop.com/noty', NULL, NULL, 50, 60, NULL)",
    )
    .await;
    exec(
        store,
        "INSERT INTO payment_events (id, payment_id, seq, kind, from_status, to_status, amount_minor, source, \
         source_event_id, detail, created_at) VALUES \
         ('evt_1', 'pay_0123456789abcdef0123456789abcdef', 1, 'payment.requested', NULL, 1, 306500, 'cafe24', NULL, NULL, 11), \
         ('evt_2', 'pay_0123456789abcdef0123456789abcdef', 2, 'payment.completed', 1, 2, 306500, 'gateway', 'e-1', NULL, 12), \
         ('evt_3', 'pay_0123456789abcdef0123456789abcdef', 3, 'payment.refunded', 2, 7, 100000, 'gateway', NULL, \
          'rfd_0123456789abcdef0123456789abcdef', 13)",
    )
    .await;
    exec(
        store,
        "INSERT INTO refunds (id, payment_id, amount_minor, amount_text, status, mode, gateway_refund_id, reason, \
         cancel_noty_url, extra_data, failure_message, created_at, updated_at) VALUES \
         ('rfd_0123456789abcdef0123456789abcdef', 'pay_0123456789abcdef0123456789abcdef', 100000, '1000', 'succeeded', \
          'async', 'sbx_rfd_1', 'customer request', 'https://oldmall.cafe24shop.com/cancel-noty', '{\"b\":2}', NULL, 13, 14)",
    )
    .await;
    exec(
        store,
        "INSERT INTO outbox (id, payment_id, position, kind, target_url, body, status, attempts, next_attempt_at, \
         lease_owner, lease_until, last_error, created_at, updated_at, delivered_at) VALUES \
         ('msg_old_1', 'pay_00000000000000000000000000000005', 1, 'cafe24.payment_noty', \
          'https://oldmall.cafe24shop.com/noty', 'request_type=payment&payed_tf=F', 'failed', 4, 70, NULL, NULL, \
          'answered HTTP 500', 61, 71, NULL)",
    )
    .await;
    exec(
        store,
        "INSERT INTO outbox_attempts (id, outbox_id, attempt, worker, started_at, finished_at, http_status, outcome, \
         error) VALUES ('att_1', 'msg_old_1', 1, 'worker_x', 62, 63, 500, 'failed', 'answered HTTP 500')",
    )
    .await;
}

async fn rows_of_the_old_schema_come_through_the_payment_core_migration(db: Db) {
    let (vars, guard) = environment(db, &[]).await;
    let store = Store::connect(&vars["DATABASE_URL"]).await.unwrap();
    store.migrate_through(BEFORE_CORE).await.unwrap();
    old_rows(&store).await;
    store.migrate().await.unwrap();

    let sync = store.payment(&PaymentId::parse(SYNC_PAID).unwrap()).await.unwrap().unwrap();
    assert_eq!(
        (sync.channel, sync.mall_id.as_str(), sync.order_id.as_str()),
        (Channel::Cafe24, "oldmall", "20261101-0000001")
    );
    assert_eq!((sync.amount.minor, sync.cancelled_minor, sync.status.code()), (306500, 100000, 7));
    assert_eq!((sync.tid.as_deref(), sync.checkout_url.as_deref()), (Some("sbx_ord_1"), Some("https://pg/1")));
    assert_eq!((sync.description.as_deref(), sync.created_at, sync.updated_at), (Some("Basic Product"), 10, 20));
    let cafe24 = store.cafe24_payment(&sync.id).await.unwrap().unwrap();
    assert_eq!((cafe24.partner_id.as_str(), cafe24.shop_no, cafe24.flow), ("oldmall:1:abc", 1, Flow::Sync));
    assert_eq!((cafe24.amount_text.as_deref(), cafe24.paymethod.as_str()), (Some("3065.00"), "card"));
    assert_eq!(
        (cafe24.return_url.as_str(), cafe24.extra_data.as_deref()),
        ("https://oldmall.cafe24shop.com/return", Some("{\"a\":1}"))
    );
    let (by_key, _) = store.cafe24_payment_by_status_key("old-status-key").await.unwrap().unwrap();
    assert_eq!(by_key.id, sync.id);
    let events = store.payment_events(&sync.id).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| (e.seq, e.kind.as_str())).collect();
    assert_eq!(kinds, [(1, "payment.requested"), (2, "payment.completed"), (3, "payment.refunded")]);

    // The external checkout's amount is ours: Cafe24 is told it in major units.
    let external = store.payment(&PaymentId::parse(EXTERNAL_OPEN).unwrap()).await.unwrap().unwrap();
    let cafe24 = store.cafe24_payment(&external.id).await.unwrap().unwrap();
    assert_eq!((cafe24.flow, cafe24.amount_text.as_deref()), (Flow::External, None));
    assert_eq!(paybridge::cafe24::noty::amount_text(&external, &cafe24), "280.50");
    assert_eq!(cafe24.external_order.as_deref(), Some("[{\"p\":1}]"));

    // Before the core, status 5 could only mean a deposit awaited.
    let deposit = store.payment(&PaymentId::parse(DEPOSIT_PENDING).unwrap()).await.unwrap().unwrap();
    assert_eq!((deposit.status.code(), deposit.pending_reason), (5, Some(PendingReason::Deposit)));

    let (of, refund) = store.refund_by_reference(REFUND).await.unwrap().unwrap();
    assert_eq!(of.id, sync.id);
    assert_eq!(refund.id, RefundId::parse(REFUND).unwrap());
    assert_eq!(
        (refund.amount.minor, refund.status, refund.mode),
        (100000, RefundStatus::Succeeded, RefundMode::MayPend)
    );
    assert_eq!(
        (refund.gateway_refund_id.as_deref(), refund.reason.as_deref()),
        (Some("sbx_rfd_1"), Some("customer request"))
    );
    let cafe24_refund = store.cafe24_refund(&refund.id).await.unwrap().unwrap();
    assert_eq!(cafe24_refund.amount_text, "1000");
    assert_eq!(cafe24_refund.cancel_noty_url.as_deref(), Some("https://oldmall.cafe24shop.com/cancel-noty"));

    // The failed noty keeps its history and is delivered as Cafe24's notys are, when resent.
    let messages = store.outbox_messages(&deposit.id).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!((messages[0].status.as_str(), messages[0].attempts), ("failed", 4));
    assert_eq!(store.outbox_attempts().await.unwrap().len(), 1);
    assert!(store.requeue_failed_delivery("oldmall", "msg_old_1").await.unwrap());
    let claimed = store.claim_due("test", 10, std::time::Duration::from_secs(60)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].policy.content_type, "application/x-www-form-urlencoded");
    assert_eq!((claimed[0].policy.accept, claimed[0].policy.headers.len()), (Acceptance::ResultOk, 0));
    store.close().await;

    // The app reads the migrated payment as Cafe24 asks for it, with the same hash.
    let app = start(vars, guard).await;
    let (status, details) = app.status("old-status-key").await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_eq!(details["amount"], "3065.00");
    assert_eq!(details["partner_id"], "oldmall:1:abc");
    assert_eq!(details["payed_tf"], "T");
    assert_eq!(details["extra_data"], json!("{\"a\":1}"));
    let expected = sign(&["3065.00", "PHP", "20261101-0000001", "oldmall:1:abc", "sbx_ord_1"]);
    assert_eq!(details["hash_data"], expected.as_str());
}

crate::on_both_databases!(rows_of_the_old_schema_come_through_the_payment_core_migration);
