//! Webhook endpoints (SPEC §8.3, §8.4): where a merchant's store hears of its payments.
//! The `whsec_…` secret is shown when the endpoint is made and when it is rotated, never
//! again; after a rotation both secrets sign for 24 hours.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::Value;

use super::{
    keys::new_webhook_secret,
    model::{CreateEndpoint, Deleted, EndpointObject, ErrorBody},
    request::{parse, post_json_sealed, Body, Merchant},
    ApiError, StoreApiContext,
};
use crate::store::now_ms;

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[utoipa::path(
    post, path = "/api/v2/webhook-endpoints", tag = "webhooks",
    summary = "Add a webhook endpoint",
    description = "The answer carries the endpoint's signing secret (`whsec_…`) once.",
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "The endpoint with its secret, shown this once", body = EndpointObject),
        (status = 422, description = "`url_not_allowed`", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create_endpoint(State(ctx): State<StoreApiContext>, merchant: Merchant, body: Body) -> Response {
    post_json_sealed(
        ctx,
        merchant,
        "/api/v2/webhook-endpoints".into(),
        body,
        move |ctx, merchant, value, _held| async move {
            let req: CreateEndpoint = parse(value)?;
            let domains = ctx.store.mall_domains(merchant.mall_id.as_str()).await?;
            let url = ctx
                .hosts
                .check_with("url", &req.url, &domains)
                .map_err(|e| ApiError::field("url_not_allowed", "url", e.to_string()))?;
            let secret = new_webhook_secret();
            let endpoint =
                ctx.store.create_webhook_endpoint(&ctx.keys, &merchant.mall_id, url.as_str(), &secret).await?;
            let answer = EndpointObject { id: endpoint.id, url: endpoint.url, secret: Some(secret) };
            Ok((StatusCode::CREATED, json_of(&answer)))
        },
    )
    .await
}

#[utoipa::path(
    delete, path = "/api/v2/webhook-endpoints/{id}", tag = "webhooks",
    summary = "Delete a webhook endpoint",
    description = "What was still to be sent to it is cancelled. Again → 404.",
    params(("id" = String, Path, description = "whe_…")),
    responses((status = 200, description = "Deleted", body = Deleted)),
    security(("api_key" = []))
)]
pub async fn delete_endpoint(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(id): Path<String>,
) -> Response {
    match ctx.store.delete_webhook_endpoint(&merchant.mall_id, &id).await {
        Ok(true) => Json(Deleted { id, deleted: true }).into_response(),
        Ok(false) => ApiError::not_found("webhook endpoint").into_response(),
        Err(e) => ApiError::internal("deleting a webhook endpoint", e).into_response(),
    }
}

#[utoipa::path(
    post, path = "/api/v2/webhook-endpoints/{id}/rotate-secret", tag = "webhooks",
    summary = "Rotate a webhook endpoint's secret",
    description = "The answer carries the new secret once; for 24 hours both secrets sign (`webhook-signature` holds two).",
    params(("id" = String, Path, description = "whe_…")),
    responses((status = 200, description = "The endpoint with its new secret, shown this once", body = EndpointObject)),
    security(("api_key" = []))
)]
pub async fn rotate_secret(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/api/v2/webhook-endpoints/{id}/rotate-secret");
    post_json_sealed(ctx, merchant, path, body, move |ctx, merchant, _body, _held| async move {
        let secret = new_webhook_secret();
        let until = now_ms() + ROTATION_OVERLAP_MS;
        let endpoint = ctx
            .store
            .rotate_webhook_secret(&ctx.keys, &merchant.mall_id, &id, &secret, until)
            .await?
            .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
        Ok((StatusCode::OK, json_of(&EndpointObject { id: endpoint.id, url: endpoint.url, secret: Some(secret) })))
    })
    .await
}
