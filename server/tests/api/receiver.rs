//! A simulated Cafe24 noty endpoint: records what it receives, answers `{"result":"OK"}`
//! unless told to fail, redirect or hang, and notices when the same notification is
//! being delivered twice at the same time.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;
use url::Url;

#[derive(Clone, Debug)]
pub struct Received {
    /// When the request arrived.
    pub at: Instant,
    pub path: String,
    pub body: String,
    pub fields: HashMap<String, String>,
    pub headers: axum::http::HeaderMap,
}

#[derive(Clone, Copy, Debug)]
pub enum Plan {
    /// Answer HTTP 500 this many times, then take.
    FailTimes(usize),
    AlwaysFail,
    /// 200, but not `{"result":"OK"}`.
    WrongAnswer,
    /// `307 Temporary Redirect` to this path on the receiver (a client that followed it
    /// would POST the same notification there).
    RedirectTo(&'static str),
    /// Holds the request this long before answering `{"result":"OK"}`.
    Hang(Duration),
}

struct Inner {
    base: Url,
    received: Mutex<Vec<Received>>,
    plans: Mutex<HashMap<String, Plan>>,
    in_flight: Mutex<HashMap<String, usize>>,
    overlaps: AtomicUsize,
    delay_ms: AtomicUsize,
}

#[derive(Clone)]
pub struct Receiver {
    pub base: Url,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let inner = Arc::new(Inner {
            base: base.clone(),
            received: Mutex::default(),
            plans: Mutex::default(),
            in_flight: Mutex::default(),
            overlaps: AtomicUsize::default(),
            delay_ms: AtomicUsize::default(),
        });
        let router = axum::Router::new().fallback(receive).with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { base, inner }
    }

    pub fn url(&self, path: &str) -> String {
        self.base.join(path).unwrap().to_string()
    }

    pub fn plan(&self, path: &str, plan: Plan) {
        self.inner.plans.lock().unwrap().insert(path.to_owned(), plan);
    }

    /// Takes every delivery to `path` again.
    pub fn recover(&self, path: &str) {
        self.inner.plans.lock().unwrap().remove(path);
    }

    /// Each delivery takes this long to answer.
    pub fn answer_after(&self, delay: Duration) {
        self.inner.delay_ms.store(delay.as_millis() as usize, Ordering::SeqCst);
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.inner.received.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Deliveries of one body that were in progress at the same time.
    pub fn overlaps(&self) -> usize {
        self.inner.overlaps.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` deliveries are being answered right now.
    pub async fn wait_in_flight(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now: usize = self.inner.in_flight.lock().unwrap().values().sum();
            if now >= n {
                return;
            }
            assert!(Instant::now() < deadline, "{now} of {n} deliveries in flight after {within:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until at least `n` deliveries reached `path`.
    pub async fn wait_for(&self, path: &str, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received(path);
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{path}: {} of {n} deliveries after {within:?}", got.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn receive(State(inner): State<Arc<Inner>>, uri: Uri, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let body = String::from_utf8_lossy(&body).into_owned();
    let path = uri.path().to_owned();
    let fields = serde_urlencoded::from_str(&body).unwrap_or_default();
    let hang = match inner.plans.lock().unwrap().get(&path) {
        Some(Plan::Hang(time)) => Some(*time),
        _ => None,
    };
    if let Some(time) = hang {
        // Recorded on arrival: the sender gives up long before the answer.
        inner.received.lock().unwrap().push(Received { at, path, body, fields, headers });
        tokio::time::sleep(time).await;
        return Json(json!({"result": "OK"})).into_response();
    }
    let first = {
        let mut in_flight = inner.in_flight.lock().unwrap();
        let n = in_flight.entry(body.clone()).or_default();
        *n += 1;
        *n == 1
    };
    if !first {
        inner.overlaps.fetch_add(1, Ordering::SeqCst);
    }
    let delay = inner.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay as u64)).await;
    }
    *inner.in_flight.lock().unwrap().get_mut(&body).unwrap() -= 1;
    inner.received.lock().unwrap().push(Received { at, path: path.clone(), body, fields, headers });
    let plan = {
        let mut plans = inner.plans.lock().unwrap();
        let plan = plans.get(&path).copied();
        if let Some(Plan::FailTimes(n)) = plan {
            if n <= 1 {
                plans.remove(&path);
            } else {
                plans.insert(path.clone(), Plan::FailTimes(n - 1));
            }
        }
        plan
    };
    match plan {
        Some(Plan::FailTimes(_) | Plan::AlwaysFail) => (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response(),
        Some(Plan::WrongAnswer) => Json(json!({"result": "NG"})).into_response(),
        Some(Plan::RedirectTo(target)) => {
            let location = inner.base.join(target).unwrap().to_string();
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)], "moved").into_response()
        }
        Some(Plan::Hang(_)) => unreachable!("answered above"),
        None => Json(json!({"result": "OK"})).into_response(),
    }
}
