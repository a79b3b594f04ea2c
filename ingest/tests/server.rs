//! The gateway on a real loopback socket: connection-level limits (header-read timeout, idle
//! timeout, connection cap). Every loop here is bounded in count and time.

mod support;

use std::time::{Duration, Instant};

use notify_common::config::IngestConfig;
use notify_common::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The gateway served on an ephemeral loopback port until the returned shutdown is cancelled.
async fn serve(config: IngestConfig) -> (std::net::SocketAddr, Shutdown) {
    let state = support::harness(config).await.state;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = Shutdown::new();
    tokio::spawn(notify_ingest::stage::serve(
        listener,
        state,
        shutdown.clone(),
        Duration::from_secs(1),
    ));
    (addr, shutdown)
}

/// `GET /healthz` on a fresh connection: the status line, or why there was none within 2 s.
async fn healthz(addr: std::net::SocketAddr) -> Result<String, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        Ok(answer.lines().next().unwrap_or_default().to_owned())
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .map_err(|_| "no answer within 2 s".to_owned())?
}

/// Sends a request's headers one byte every `gap`, for at most `limit`; how long until the
/// server closed the connection, or `None` if it never did.
async fn drip_headers(
    addr: std::net::SocketAddr,
    gap: Duration,
    limit: Duration,
) -> Option<Duration> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let started = Instant::now();
    let headers = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let drip = async {
        for byte in headers.iter().cycle() {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(gap).await;
        }
    };
    let closed = async {
        let mut buf = [0u8; 256];
        // the server's answer to a cut-off request, if any, then its close (0 or an error)
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let outcome = tokio::time::timeout(limit, async {
        tokio::select! {
            () = drip => {}
            () = closed => {}
        }
    })
    .await;
    outcome.ok().map(|()| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_headers_byte_by_byte_is_cut_off_while_others_are_served() {
    let config = IngestConfig {
        header_read_timeout_ms: 500,
        ..IngestConfig::default()
    };
    let (addr, shutdown) = serve(config).await;
    let slow = (0..4)
        .map(|_| {
            tokio::spawn(drip_headers(
                addr,
                Duration::from_millis(50),
                Duration::from_secs(4),
            ))
        })
        .collect::<Vec<_>>();
    // meanwhile, ordinary clients are answered at once
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(healthz(addr).await.as_deref(), Ok("HTTP/1.1 200 OK"));
    }
    for client in slow {
        let cut_after = client.await.expect("joined");
        assert!(
            cut_after.is_some_and(|after| after < Duration::from_secs(2)),
            "slow client still connected: {cut_after:?}"
        );
    }
    shutdown.token().cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_a_slot_frees() {
    let config = IngestConfig {
        header_read_timeout_ms: 600,
        max_connections: 2,
        ..IngestConfig::default()
    };
    let (addr, shutdown) = serve(config).await;
    // two connections that never send a byte take both slots
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    assert_eq!(healthz(addr).await.as_deref(), Ok("HTTP/1.1 200 OK"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "answered after {waited:?}, while both slots were taken"
    );
    // the held connections were cut by the header-read timeout, which freed the slots
    for mut stream in held {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "held connection still open: {read:?}"
        );
    }
    shutdown.token().cancel();
}
