//! Slow and idle clients (`HTTP_HEADER_TIMEOUT`, `HTTP_IDLE_TIMEOUT`,
//! `HTTP_MAX_CONNECTIONS`), over raw TCP: a connection that sends its head a byte at a
//! time is closed after the header timeout while other requests are served; an idle
//! kept-alive connection is closed after the idle timeout (not the header timeout); past
//! the connection limit a new connection waits until one closes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(("127.0.0.1", app.base.port().unwrap())).await.unwrap()
}

/// Reads until the server closes the connection (EOF or reset), at most `within`;
/// whatever else was read is returned with the time it took.
async fn closed_within(stream: &mut (impl AsyncReadExt + Unpin), within: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + within).into(), stream.read(&mut buf)).await {
            Err(_) => return Err(format!("still open after {within:?}")),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(start.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// One complete `GET /healthz` on `stream`, kept alive; its answer read whole.
async fn get_health(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = tokio::time::timeout_at(deadline.into(), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .expect("a content-length");
            if body.len() >= length {
                return text;
            }
        }
    }
}

async fn slow_header_connections_are_closed_while_others_are_served(db: Db) {
    let app = spawn_app_with(db, &[("HTTP_HEADER_TIMEOUT", "1s"), ("HTTP_IDLE_TIMEOUT", "30s")]).await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        let stream = connect(&app).await;
        slow.push(tokio::spawn(async move {
            let (mut reader, mut writer) = stream.into_split();
            // A head that never ends: a byte every 100 ms, as long as the server takes it.
            let dripping = tokio::spawn(async move {
                let head = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ";
                for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                    if writer.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            let closed = closed_within(&mut reader, Duration::from_secs(10)).await;
            dripping.abort();
            closed
        }));
    }
    // Meanwhile, ordinary requests are answered at once.
    for _ in 0..10 {
        let started = Instant::now();
        let answer = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(1), "served while the slow clients drip");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut times = Vec::new();
    for (i, connection) in slow.into_iter().enumerate() {
        let took = connection.await.unwrap().unwrap_or_else(|e| panic!("slow connection {i}: {e}"));
        assert!(took >= Duration::from_millis(900), "connection {i} closed after {took:?}, before the timeout");
        assert!(took < Duration::from_secs(4), "connection {i} closed after {took:?}");
        times.push(took);
    }
    let (first, last) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    eprintln!("50 slow-header connections closed after {first:?} to {last:?} (HTTP_HEADER_TIMEOUT=1s)");
}

async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout(db: Db) {
    let app = spawn_app_with(db, &[("HTTP_HEADER_TIMEOUT", "1s"), ("HTTP_IDLE_TIMEOUT", "30s")]).await;
    let mut silent = connect(&app).await;
    let took = closed_within(&mut silent, Duration::from_secs(5)).await.unwrap();
    assert!(took >= Duration::from_millis(900), "{took:?}");
}

async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(db: Db) {
    // The idle timeout longer than the header timeout: waiting for the next request is
    // not sending a head slowly.
    let app = spawn_app_with(db, &[("HTTP_HEADER_TIMEOUT", "1s"), ("HTTP_IDLE_TIMEOUT", "3s")]).await;
    let mut stream = connect(&app).await;
    assert!(get_health(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than the header timeout, shorter than the idle timeout: still open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(get_health(&mut stream).await.starts_with("HTTP/1.1 200"), "kept alive past the header timeout");
    let took = closed_within(&mut stream, Duration::from_secs(8)).await.unwrap();
    eprintln!("an idle kept-alive connection closed after {took:?} (HTTP_IDLE_TIMEOUT=3s)");
    assert!(took >= Duration::from_millis(2900), "closed after {took:?}, before the idle timeout");
    assert!(took < Duration::from_secs(6), "closed after {took:?}");
}

async fn past_the_connection_limit_a_connection_waits_for_a_free_one(db: Db) {
    let app = spawn_app_with(db, &[("HTTP_MAX_CONNECTIONS", "2"), ("HTTP_IDLE_TIMEOUT", "60s")]).await;
    // The test client's own pooled connections would count: only raw ones here.
    let mut first = connect(&app).await;
    let mut second = connect(&app).await;
    assert!(get_health(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(get_health(&mut second).await.starts_with("HTTP/1.1 200"));

    let mut third = connect(&app).await;
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let waited = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(waited.is_err(), "the third connection is not served while two are open");

    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(get_health(&mut second).await.starts_with("HTTP/1.1 200"), "the kept one still works");
}

crate::on_both_databases!(
    slow_header_connections_are_closed_while_others_are_served,
    a_connection_that_sends_nothing_is_closed_after_the_header_timeout,
    an_idle_kept_alive_connection_is_closed_after_the_idle_timeout,
    past_the_connection_limit_a_connection_waits_for_a_free_one,
);
