//! Small bridges to JavaScript: properties, callbacks, JSON over fetch. Strings are
//! joined by hand: `format!` would pull Rust's formatting machinery into the bundle.

use js_sys::{Array, Function, Object, Promise, Reflect, JSON};
use wasm_bindgen::{prelude::*, JsCast};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

pub fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A property as text: strings as they are, numbers written out.
pub fn text(target: &JsValue, key: &str) -> Option<String> {
    let value = get(target, key);
    if value.as_f64().is_some() {
        return JSON::stringify(&value).ok()?.as_string();
    }
    value.as_string()
}

pub fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| out.push_str(p));
    out
}

/// Calls `target[method](...args, callback)` where Cafe24's SDK answers
/// `callback(error, result)`, as a future of the result.
pub async fn call_with_callback(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let function: Function = get(target, method)
        .dyn_into()
        .map_err(|_| JsValue::from_str(&concat(&["CAFE24API.", method, " is missing"])))?;
    let target = target.clone();
    let args: Array = args.iter().collect();
    let promise = Promise::new(&mut |resolve, reject| {
        let on_error = reject.clone();
        let callback = Closure::once_into_js(move |error: JsValue, result: JsValue| {
            if error.is_null() || error.is_undefined() || error == JsValue::FALSE {
                let _ = resolve.call1(&JsValue::NULL, &result);
            } else {
                let _ = on_error.call1(&JsValue::NULL, &error);
            }
        });
        args.push(&callback);
        if let Err(e) = Reflect::apply(&function, &target, &args) {
            let _ = reject.call1(&JsValue::NULL, &e);
        }
    });
    JsFuture::from(promise).await
}

async fn fetch_json(request: &Request) -> Result<JsValue, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_request(request)).await?.dyn_into()?;
    let body = JsFuture::from(response.text()?).await?;
    JSON::parse(&body.as_string().unwrap_or_default())
}

pub async fn get_json(url: &str) -> Result<JsValue, JsValue> {
    fetch_json(&Request::new_with_str(url)?).await
}

pub async fn post_json(url: &str, body: &JsValue) -> Result<JsValue, JsValue> {
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JSON::stringify(body)?.into());
    let request = Request::new_with_str_and_init(url, &init)?;
    request.headers().set("Content-Type", "application/json")?;
    fetch_json(&request).await
}
