//! The Leptos pages (the buyer's review page, the merchant's admin page) while other
//! servers are built in the same process.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use reqwest::header;

use crate::{external::review_page_of_small_basket, helpers::*, receiver::Receiver};

/// Page loads, half of them review pages and half admin pages.
const LOADS: usize = 120;
/// Far longer than a page takes even on a busy machine; a page past it never answers.
const ANSWERED_WITHIN: Duration = Duration::from_secs(10);

/// Building a server's router once ran Leptos' route generation, which suppresses the
/// loading of every resource in the process while it runs: a page whose data began
/// loading meanwhile never answered, not even its headers. Every server of the test
/// suite is built in one process beside the others' requests.
async fn pages_answer_while_other_servers_are_built(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let review = review_page_of_small_basket(&app, &cafe24).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let admin = app.url("/admin/display?mall_id=demomall");

    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let builder = {
        let (stop, state) = (stop.0.clone(), app.state.clone());
        tokio::task::spawn_blocking(move || {
            let mut built = 0_usize;
            while !stop.load(Ordering::Relaxed) {
                let off =
                    paybridge::http::limits::RateLimits { rates: vec![], exempt: vec![], trusted_proxies: vec![] };
                drop(paybridge::http::router(&state, None, paybridge::http::limits::Limiter::new(&off)));
                built += 1;
            }
            built
        })
    };
    let next = AtomicUsize::new(0);
    let load = || async {
        loop {
            let n = next.fetch_add(1, Ordering::Relaxed);
            if n >= LOADS {
                return;
            }
            let (request, expected) = if n % 2 == 0 {
                (app.client.get(review.clone()), "Review your order")
            } else {
                (app.client.get(admin.clone()).header(header::COOKIE, &merchant.cookie), "paybridge settings")
            };
            let response =
                tokio::time::timeout(ANSWERED_WITHIN, async { request.send().await?.error_for_status()?.text().await })
                    .await
                    .unwrap_or_else(|_| panic!("page load {n} got no answer within {ANSWERED_WITHIN:?}"))
                    .unwrap();
            assert!(response.contains(expected), "page load {n}: {expected}");
        }
    };
    futures::future::join_all((0..8).map(|_| load())).await;
    drop(stop);
    let built = builder.await.unwrap();
    assert!(built > 0, "routers were built while the pages loaded");
}

/// Stops the router builder however the test ends: the runtime waits for it.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

crate::on_both_databases!(pages_answer_while_other_servers_are_built);
