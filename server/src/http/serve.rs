//! The listener's accept loop, in place of `axum::serve`, which has no limits on a
//! connection: a client that sends its request head a byte at a time, or opens
//! connections and sends nothing, would hold them open for as long as it likes.
//!
//! Each connection is served by hyper-util's `auto` builder (HTTP/1.1, and HTTP/2 with
//! prior knowledge, as `axum::serve` did) and watched by its own task:
//! - **head**: a request head must arrive whole within `HTTP_HEADER_TIMEOUT`, counted from
//!   the connection's accept, or from the first byte of a later request on a kept-alive
//!   connection;
//! - **idle**: a connection with no request in flight and no byte read or written for
//!   `HTTP_IDLE_TIMEOUT` is closed;
//! - **stalled**: a request in flight is not timed, but a connection on which nothing at
//!   all moves for [`stall_limit`] (a body sent too slowly, an answer not read) is closed;
//! - **connections**: at most `HTTP_MAX_CONNECTIONS` are served at once; past that, new
//!   ones wait in the listen backlog (they are not refused) until one closes.
//!
//! hyper's own `header_read_timeout` is not used: in hyper 1.x its timer starts whenever
//! the connection waits for a head, so it would also close an idle kept-alive connection
//! after the header timeout — the idle timeout could not be longer than it (a load
//! balancer keeps idle connections for 60 s and more, and expects the server to keep them
//! longer). It also does not cover the bytes before HTTP/1 or HTTP/2 is told apart.
//!
//! Every request carries `ConnectInfo<SocketAddr>` (the client address, for the limits).
//! Shutdown stops accepting, asks each connection to finish (in-flight requests end,
//! idle connections close), and returns when every connection has.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::{pin, Pin},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{extract::ConnectInfo, Router};
use hyper::{body::Incoming, Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{watch, OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceExt;

pub use crate::config::limits::ConnectionLimits;

/// How long nothing may move on a connection while a request is in flight: the idle
/// timeout, but never less than two minutes, above every call we make to a PG or Cafe24.
pub fn stall_limit(limits: &ConnectionLimits) -> Duration {
    limits.idle_timeout.max(Duration::from_secs(120))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets every connection
/// finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut full_since: Option<Instant> = None;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if full_since.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "HTTP_MAX_CONNECTIONS reached: new connections wait until one closes"
                    );
                    full_since = Some(Instant::now());
                }
                tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::error!(error = %e, "accepting a connection failed; trying again in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, peer, router.clone(), limits, stopping.clone(), permit));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: all slots back, all connections done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = activity.request_started();
            let answer = router.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let response = answer.await;
                drop(in_flight);
                response
            }
        })
    };
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().enable_connect_protocol();
    let mut connection = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut asked_to_stop = *stopping.borrow();
    if asked_to_stop {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        let check_at = match activity.check(&limits) {
            Ok(at) => at,
            Err(reason) => {
                // Dropping the connection closes it.
                tracing::debug!(peer = %peer, reason, "closing a connection");
                return;
            }
        };
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stopping.changed(), if !asked_to_stop => {
                asked_to_stop = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep_until(check_at.into()) => {}
        }
    }
}

/// What a connection's watcher needs to know: when a byte last moved, when the head
/// now awaited began, and how many requests are in flight. Times are milliseconds since
/// the accept.
struct Activity {
    accepted: Instant,
    /// The last byte read or written, or the last request's end.
    last: AtomicU64,
    /// 1 + when the head now awaited began (its first byte; the accept for the first
    /// request); 0 while a request is in flight or the connection idles after one.
    head_since: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            accepted: Instant::now(),
            last: AtomicU64::new(0),
            head_since: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self) {
        let now = self.now();
        self.last.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.head_since.compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// When to look again, or why the connection is to be closed now.
    fn check(&self, limits: &ConnectionLimits) -> Result<Instant, &'static str> {
        let now = self.now();
        let last = self.last.load(Ordering::Relaxed);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let next = if self.in_flight.load(Ordering::Acquire) > 0 {
            let stall = ms(stall_limit(limits));
            if now.saturating_sub(last) >= stall {
                return Err("nothing moved while a request was in flight (HTTP_IDLE_TIMEOUT, at least 2 min)");
            }
            last.saturating_add(stall)
        } else {
            let idle = ms(limits.idle_timeout);
            if now.saturating_sub(last) >= idle {
                return Err("idle (HTTP_IDLE_TIMEOUT)");
            }
            let mut next = last.saturating_add(idle);
            let head = self.head_since.load(Ordering::Acquire);
            if head != 0 {
                let header = ms(limits.header_timeout);
                if now.saturating_sub(head - 1) >= header {
                    return Err("the request head did not arrive in time (HTTP_HEADER_TIMEOUT)");
                }
                next = next.min((head - 1).saturating_add(header));
            }
            next
        };
        // A little late rather than early: the deadline has passed when we look.
        Ok(self.accepted + Duration::from_millis(next.saturating_add(5)))
    }
}

/// A request in flight; its end counts as activity.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection's socket, telling [`Activity`] of every byte that moves.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
        }
    }

    #[test]
    fn a_new_connection_has_the_header_timeout_to_send_its_head() {
        let a = Activity::new();
        let at = a.check(&limits()).unwrap();
        let wait = at.duration_since(a.accepted);
        assert!(wait >= Duration::from_secs(10) && wait < Duration::from_secs(11), "{wait:?}");
    }

    #[test]
    fn a_request_in_flight_is_not_timed_by_the_head_or_idle_timeouts() {
        let a = Arc::new(Activity::new());
        let in_flight = a.request_started();
        let wait = a.check(&limits()).unwrap().duration_since(a.accepted);
        assert!(wait >= Duration::from_secs(120), "{wait:?}");
        drop(in_flight);
        // Idle after the answer: the idle timeout, no head awaited until a byte comes.
        let wait = a.check(&limits()).unwrap().duration_since(a.accepted);
        assert!(wait >= Duration::from_secs(60) && wait < Duration::from_secs(61), "{wait:?}");
        a.read();
        let wait = a.check(&limits()).unwrap().duration_since(a.accepted);
        assert!(wait >= Duration::from_secs(10) && wait < Duration::from_secs(11), "{wait:?}");
    }
}
