//! The Store API's OpenAPI 3.1 document and reference page (SPEC §8.1): every call of
//! the contract is in the document, every call in the document is served, and the page
//! is built from the same document with nothing fetched from elsewhere.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

/// SPEC §8.3's payment calls (the token, PIN and token-payment rows come with saved cards).
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
];

async fn every_call_is_in_the_openapi_document_and_every_documented_call_is_served(db: Db) {
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

    // Each documented call is a route of the server: without a key it answers 401, not
    // 404 or 405 (a path that is not routed, or routed for another method).
    for (method, path) in &documented {
        let concrete = path.replace("{id}", "pay_00000000000000000000000000000000");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let answer = app.client.request(method.clone(), app.url(&concrete)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{method} {concrete} is served");
    }
    let unknown = app.client.get(app.url("/api/v2/no-such-call")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND, "the probe can tell a missing route");

    // Every operation says how it is authenticated, and the scheme is a bearer key.
    assert_eq!(document["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
    for (method, path) in &documented {
        let op = &document["paths"][path][method.to_lowercase()];
        assert!(op["security"].is_array(), "{method} {path} names its security");
        assert!(op["summary"].is_string(), "{method} {path} has a summary");
    }
    for schema in ["PaymentObject", "CreateIntent", "ErrorBody", "PaymentList", "EndpointObject"] {
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
    every_call_is_in_the_openapi_document_and_every_documented_call_is_served,
    the_reference_page_is_built_from_the_document_and_loads_nothing,
);
