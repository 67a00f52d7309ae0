//! The Store API's OpenAPI 3.1 document and reference page (SPEC §8.1): the document's
//! calls are exactly the contract's, the router serves each documented call and no other
//! method on its path, every operation documents its answers, and the page is built from
//! the same document with nothing fetched from elsewhere.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

/// SPEC §8.3's calls, as the contract lists them.
const CONTRACT: &[(&str, &str)] = &[
    ("POST", "/api/v2/payment-intents"),
    ("POST", "/api/v2/payments"),
    ("POST", "/api/v2/payments/{id}/capture"),
    ("POST", "/api/v2/payments/{id}/cancel"),
    ("POST", "/api/v2/payments/{id}/confirm"),
    ("POST", "/api/v2/payments/{id}/delivery"),
    ("GET", "/api/v2/payments/{id}"),
    ("GET", "/api/v2/payments"),
    ("POST", "/api/v2/webhook-endpoints"),
    ("DELETE", "/api/v2/webhook-endpoints/{id}"),
    ("POST", "/api/v2/webhook-endpoints/{id}/rotate-secret"),
    ("POST", "/api/v2/payments/{id}/webhooks/resend"),
    ("POST", "/api/v2/tokens/registrations"),
    ("GET", "/api/v2/customers/{customerId}/tokens"),
    ("DELETE", "/api/v2/tokens/{id}"),
    ("POST", "/api/v2/token-payments"),
    ("GET", "/api/v2/pin/public-key"),
    ("POST", "/api/v2/customers/{customerId}/pin"),
    ("POST", "/api/v2/customers/{customerId}/pin/verify"),
];

/// The calls that ask the PG, and so may answer 502 or 504.
const ASK_THE_PG: &[(&str, &str)] = &[
    ("POST", "/api/v2/payment-intents"),
    ("POST", "/api/v2/payments"),
    ("POST", "/api/v2/payments/{id}/capture"),
    ("POST", "/api/v2/payments/{id}/cancel"),
    ("POST", "/api/v2/tokens/registrations"),
    ("DELETE", "/api/v2/tokens/{id}"),
    ("POST", "/api/v2/token-payments"),
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The error answer `status` of `op`, described, with the error schema.
fn error_answer<'a>(op: &'a Value, status: &str, what: &str) -> &'a Value {
    let answer = &op["responses"][status];
    assert!(answer["description"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {status} is described");
    assert_eq!(
        answer["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
        "{what}: {status} has the error schema"
    );
    answer
}

async fn the_openapi_document_is_the_router_and_the_contract(db: Db) {
    let app = spawn_app(db).await;
    let response = app.client.get(app.url("/api/v2/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    let contract: BTreeSet<(String, String)> = CONTRACT.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, contract, "the document holds exactly the contract's calls");

    // The router serves each documented call (without a key: 401, not 404 or 405), and on
    // a documented path no method the document does not name (405, not served).
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete = path.replace("{id}", "pay_00000000000000000000000000000000").replace("{customerId}", "c-77");
        for method in METHODS {
            let answer = app
                .client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = answer.status();
            let body: Value = answer.json().await.unwrap_or_else(|_| panic!("{method} {concrete}: JSON"));
            if documented.contains(&(method.to_owned(), path.clone())) {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {concrete} is served: {body}");
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {concrete} is not a call: {body}");
            }
        }
    }

    // Every operation documents how it is authenticated and what it may answer.
    assert_eq!(document["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
    for (method, path) in &documented {
        let what = format!("{method} {path}");
        let op = &document["paths"][path][method.to_lowercase()];
        assert!(op["security"].is_array(), "{what} names its security");
        assert!(op["summary"].is_string(), "{what} has a summary");
        for status in ["401", "429", "500"] {
            error_answer(op, status, &what);
        }
        assert!(op["responses"]["429"]["headers"]["Retry-After"].is_object(), "{what}: 429 names Retry-After");
        if path.contains('{') {
            error_answer(op, "404", &what);
        }
        if method == "GET" && !path.contains('{') {
            error_answer(op, "400", &what);
        }
        let asks_the_pg = ASK_THE_PG.contains(&(method.as_str(), path.as_str()));
        for status in ["502", "504"] {
            assert_eq!(op["responses"][status].is_object(), asks_the_pg, "{what}: {status} only where the PG is asked");
            if asks_the_pg {
                error_answer(op, status, &what);
            }
        }
        let idempotency = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "Idempotency-Key" && p["in"] == "header");
        assert_eq!(idempotency.is_some(), method == "POST", "{what}: the Idempotency-Key header on every POST only");
        if method != "POST" {
            continue;
        }
        assert_eq!(idempotency.unwrap()["required"], true, "{what}");
        for status in ["400", "409", "413", "415", "422"] {
            error_answer(op, status, &what);
        }
        assert!(error_answer(op, "409", &what)["headers"]["Retry-After"].is_object(), "{what}: Retry-After");
        assert!(
            error_answer(op, "422", &what)["description"].as_str().unwrap().contains("idempotency_key_reused"),
            "{what}"
        );
        let successes: Vec<&Value> =
            op["responses"].as_object().unwrap().iter().filter(|(s, _)| s.starts_with('2')).map(|(_, r)| r).collect();
        assert!(!successes.is_empty(), "{what}");
        for success in successes {
            assert!(success["headers"]["Idempotent-Replayed"].is_object(), "{what}: Idempotent-Replayed");
        }
    }
    for schema in [
        "PaymentObject",
        "CreateIntent",
        "ErrorBody",
        "PaymentList",
        "EndpointObject",
        "TokenObject",
        "TokenList",
        "CreateRegistration",
        "RegistrationObject",
        "CreateTokenPayment",
    ] {
        assert!(document["components"]["schemas"][schema].is_object(), "{schema} is described");
    }
    assert_eq!(document["components"]["schemas"]["CreateIntent"]["properties"]["amount"]["type"], "integer");
}

async fn the_reference_page_is_built_from_the_document_and_loads_nothing(db: Db) {
    let app = spawn_app(db).await;
    let response = app.client.get(app.url("/api/v2/docs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    for (method, path) in CONTRACT {
        assert!(page.contains(&format!("{method} {path}")), "{method} {path} on the page");
    }
    assert!(page.contains("id=\"PaymentObject\""), "the types are on the page");
    assert!(!page.contains("<script") && !page.contains("https://"), "nothing is loaded from anywhere");
}

crate::on_both_databases!(
    the_openapi_document_is_the_router_and_the_contract,
    the_reference_page_is_built_from_the_document_and_loads_nothing,
);
