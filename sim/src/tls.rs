//! Test TLS and the connection loop shared by the HTTP/2 simulators (APNs, FCM).
//!
//! [`TestCa`] makes a throwaway certificate authority and a server certificate for
//! `127.0.0.1`, `::1` and `localhost`, generated in memory at run time; clients trust the CA
//! through [`TestCa::ca_pem`]. Nothing here is meant for production: keys live in memory only and
//! the certificates never expire in practice.
//!
//! [`serve`] runs an axum router on a bound listener, over TLS (ALPN `h2`, optionally also
//! `http/1.1`) or plain HTTP, with a bounded number of connections. Every request carries a
//! [`ConnectionKill`] extension, so a handler can act out a dropped connection: the connection
//! is closed without an answer, which is what a client sees when a provider goes away
//! mid-request.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Request;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Most connections one simulator serves at once; further accepts wait.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Generating or loading test certificates failed.
    #[error("test tls setup failed: {0}")]
    Tls(String),
    /// A configured public key could not be parsed.
    #[error("invalid public key: {0}")]
    Key(String),
    /// The listener could not be used.
    #[error("listener error: {0}")]
    Io(#[from] std::io::Error),
}

/// A throwaway certificate authority and a server certificate it signed for the loopback names.
#[derive(Clone)]
pub struct TestCa {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Arc<Vec<u8>>,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// Generates a CA and a server certificate for `127.0.0.1`, `::1` and `localhost`.
    pub fn generate() -> Result<Self, SimError> {
        let tls = |e: rcgen::Error| SimError::Tls(e.to_string());
        let ca_key = rcgen::KeyPair::generate().map_err(tls)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "notify simulator test ca");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(tls)?;

        let server_key = rcgen::KeyPair::generate().map_err(tls)?;
        let mut server_params = rcgen::CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ])
        .map_err(tls)?;
        server_params.distinguished_name = rcgen::DistinguishedName::new();
        server_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "notify simulator");
        server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &ca).map_err(tls)?;

        Ok(Self {
            ca_pem: ca.pem(),
            chain: vec![server_cert.der().clone(), ca.der().clone()],
            key_der: Arc::new(server_key.serialize_der()),
        })
    }

    /// The CA certificate, PEM: what a client adds to its trusted roots.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A rustls server configuration offering `alpn` protocols, on the ring provider.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, SimError> {
        let tls = |e: rustls::Error| SimError::Tls(e.to_string());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.as_ref().clone()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .map_err(tls)?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// Lets a handler close the connection its request came on without answering.
#[derive(Debug, Clone)]
pub struct ConnectionKill {
    kill: Arc<Notify>,
    go_away: Arc<Notify>,
}

impl ConnectionKill {
    /// Closes the connection; the handler should then wait forever (it is dropped with the
    /// connection).
    pub fn kill(&self) {
        self.kill.notify_one();
    }

    /// Starts a graceful shutdown of the connection: HTTP/2 `GOAWAY` with the last stream id
    /// the server took; streams above it are refused, the ones below are answered.
    pub fn go_away(&self) {
        self.go_away.notify_one();
    }
}

/// How [`serve`] speaks to clients.
#[derive(Debug, Clone)]
pub enum Transport {
    /// TLS with this server configuration (its ALPN list decides HTTP/2 and/or HTTP/1.1).
    Tls(Arc<ServerConfig>),
    /// Plain HTTP/1.1 and cleartext HTTP/2 (prior knowledge).
    Plain,
}

/// A running simulator server; stops (with its connections) when dropped or on
/// [`SimServer::shutdown`].
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SimServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on `listener` until the returned server is dropped or shut down.
/// `http2_only` refuses HTTP/1.1 (APNs speaks only HTTP/2).
pub fn serve(
    listener: TcpListener,
    router: Router,
    transport: Transport,
    http2_only: bool,
) -> Result<SimServer, SimError> {
    let addr = listener.local_addr()?;
    let task = tokio::spawn(accept_loop(listener, router, transport, http2_only));
    Ok(SimServer { addr, task })
}

async fn accept_loop(listener: TcpListener, router: Router, transport: Transport, h2: bool) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let acceptor = match &transport {
        Transport::Tls(config) => Some(TlsAcceptor::from(config.clone())),
        Transport::Plain => None,
    };
    // Owning the connections here means aborting this task closes them all.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(error = %err, "simulator accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let router = router.clone();
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let _permit = permit;
            match acceptor {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_connection(tls, router, h2).await,
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, "simulator tls handshake failed")
                        }
                        Err(_) => tracing::debug!("simulator tls handshake timed out"),
                    }
                }
                None => serve_connection(stream, router, h2).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, router: Router, http2_only: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let go_away = Arc::new(Notify::new());
    let handle = ConnectionKill {
        kill: kill.clone(),
        go_away: go_away.clone(),
    };
    let service = router.map_request(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(handle.clone());
        request
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if http2_only {
        builder = builder.http2_only();
    }
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let mut going_away = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "simulator connection ended with an error");
                }
                return;
            }
            // Dropping the connection future closes the socket without an answer.
            _ = kill.notified() => {
                tracing::debug!("simulator dropped a connection on purpose");
                return;
            }
            _ = go_away.notified(), if !going_away => {
                tracing::debug!("simulator sends GOAWAY on purpose");
                going_away = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
