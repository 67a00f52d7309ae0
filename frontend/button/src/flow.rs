//! The button's life: show it where it belongs, and on click reserve the order with
//! Cafe24 and hand it to paybridge (SPEC §4.6).

use js_sys::{Object, JSON};
use wasm_bindgen::{prelude::*, JsCast};
use web_sys::{HtmlButtonElement, HtmlElement, Window};

use crate::{
    js::{call_with_callback, concat, get, get_json, post_json, set, text},
    paths::{buyer, encode, return_url_base, shows_button},
};

const LABEL: &str = "Pay with paybridge";

struct Shop {
    base: String,
    mall_id: String,
    shop_no: String,
    client_id: String,
    sdk: JsValue,
}

pub async fn mount(window: Window, base: String) -> Result<(), JsValue> {
    let document = window.document().ok_or("no document")?;
    let role =
        document.query_selector("meta[name=path_role]")?.and_then(|m| m.get_attribute("content")).unwrap_or_default();
    if !shows_button(&role) {
        return Ok(());
    }
    let Some(container) = document.get_element_by_id("appPaymentButtonBox") else { return Ok(()) };
    let sdk = get(&window, "CAFE24API");
    if sdk.is_undefined() {
        return Err("CAFE24API is not on the page".into());
    }
    let mall_id = text(&sdk, "MALL_ID").ok_or("CAFE24API.MALL_ID is missing")?;
    let shop_no = text(&sdk, "SHOP_NO").unwrap_or_else(|| "1".into());
    let data_url = concat(&[
        &base,
        "/api/external-checkout/script/data?mall_id=",
        &encode(&mall_id),
        "&shop_no=",
        &encode(&shop_no),
    ]);
    let data = get_json(&data_url).await?;
    if get(&data, "bResult") != JsValue::TRUE {
        return Ok(()); // Not enabled for this shop: no button.
    }
    let details = get(&data, "mData");
    let client_id = text(&details, "client_id").ok_or("script/data gave no client_id")?;
    let button: HtmlButtonElement = document.create_element("button")?.dyn_into()?;
    button.set_type("button");
    button.set_class_name("paybridge-pay");
    button.set_text_content(Some(LABEL));
    button.set_attribute("data-testid", "paybridge-button")?;
    let status: HtmlElement = document.create_element("p")?.dyn_into()?;
    status.set_class_name("paybridge-status");
    container.append_child(&button)?;
    container.append_child(&status)?;

    let shop = std::rc::Rc::new(Shop { base, mall_id, shop_no, client_id, sdk });
    let (on_click_button, on_click_status) = (button.clone(), status.clone());
    let on_click = Closure::<dyn FnMut()>::new(move || {
        let (shop, button, status, window) =
            (shop.clone(), on_click_button.clone(), on_click_status.clone(), window.clone());
        wasm_bindgen_futures::spawn_local(async move {
            button.set_disabled(true);
            button.set_text_content(Some("Opening the payment…"));
            status.set_text_content(None);
            match pay(&window, &shop).await {
                Ok(target) => {
                    let _ = window.location().set_href(&target);
                }
                Err(e) => {
                    let message = e.as_string().unwrap_or_else(|| "the payment could not start".into());
                    status.set_text_content(Some(&message));
                    button.set_disabled(false);
                    button.set_text_content(Some(LABEL));
                }
            }
        });
    });
    button.set_onclick(Some(on_click.as_ref().unchecked_ref()));
    on_click.forget();
    Ok(())
}

/// Reserves the order with Cafe24 and creates the checkout; returns where the buyer goes.
async fn pay(window: &Window, shop: &Shop) -> Result<String, JsValue> {
    let who = call_with_callback(&shop.sdk, "getCustomerIDInfo", &[]).await?;
    let ids = get(&who, "id");
    let buyer = buyer(text(&ids, "member_id"), text(&ids, "guest_id"));
    let now = JsValue::from_f64((js_sys::Date::now() / 1000.0).floor());
    let request_time = JSON::stringify(&now)?.as_string().unwrap_or_default();
    let hmac_url = concat(&[
        &shop.base,
        "/api/external-checkout/script/hmac?mall_id=",
        &encode(&shop.mall_id),
        "&request_time=",
        &request_time,
        "&client_key=",
        &encode(&shop.client_id),
        "&member_id=",
        &encode(&buyer.id),
    ]);
    let hmac = text(&get_json(&hmac_url).await?, "hmac_key").ok_or("paybridge refused to sign the reservation")?;
    let reservation = call_with_callback(
        &shop.sdk,
        "precreateOrder",
        &[
            JsValue::from_str(&shop.mall_id),
            JsValue::from_str(&request_time),
            JsValue::from_str(&shop.client_id),
            JsValue::from_str(&buyer.id),
            JsValue::from_str(&hmac),
        ],
    )
    .await?;
    // The reservation as Cafe24 returned it, plus who pays and where the mall lives.
    let payload: Object = JSON::parse(&JSON::stringify(&reservation)?.as_string().unwrap_or_default())?.dyn_into()?;
    set(&payload, "mall_id", &JsValue::from_str(&shop.mall_id));
    set(&payload, "shop_no", &JsValue::from_str(&shop.shop_no));
    set(&payload, "member_id", &JsValue::from_str(&buyer.id));
    set(&payload, "bGuest", &JsValue::from_f64(if buyer.guest { 1.0 } else { 0.0 }));
    let location = window.location();
    let base = return_url_base(&location.origin()?, &location.pathname()?);
    set(&payload, "return_url_base", &JsValue::from_str(&base));
    let answer = post_json(&concat(&[&shop.base, "/api/external-checkout/payload"]), &payload).await?;
    let details = get(&answer, "mData");
    if get(&answer, "bResult") == JsValue::TRUE {
        text(&details, "redirect_url").ok_or_else(|| "paybridge gave no payment page".into())
    } else {
        Err(text(&details, "message").unwrap_or_else(|| "the payment could not start".into()).into())
    }
}
