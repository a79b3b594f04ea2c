//! SSRF guard for URLs that others hand us and we then POST to: web push subscription
//! endpoints (a browser hands one to a user; anyone who can register a device can make us call
//! it) and tenants' webhook endpoints. The guard makes sure we only talk to public HTTPS
//! servers:
//!
//! - [`check_url`] rejects anything but `https` (and, only with the test switch, `http` to
//!   `localhost` or a loopback literal), URLs with user info, IP literals in forbidden ranges,
//!   ports other than the allowed ones (443 by default) and, when an allowlist of push-service
//!   hosts is configured, every other host; loopback endpoints under the test switch skip the
//!   port and host rules (simulators listen on ephemeral ports);
//! - [`GuardedResolver`] is the HTTP client's DNS resolver: it resolves a host name and refuses
//!   the connection when any address is forbidden, so the check applies to the addresses we
//!   actually connect to (no window for DNS rebinding between a check and the connect).
//!
//! Forbidden ranges ([`forbidden_range`]): unspecified, loopback (unless allowed), private
//! (RFC 1918), shared (RFC 6598), link-local, multicast, broadcast, reserved, documentation and
//! benchmarking IPv4; unspecified, loopback, unique-local, link-local, site-local, multicast,
//! documentation, discard-only and benchmarking IPv6; NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`),
//! 6to4 (`2002::/16`) and Teredo (`2001::/32`) whatever IPv4 address they carry, since the
//! gateway they reach is not ours to vet; and IPv4-mapped (`::ffff:0:0/96`), -compatible
//! (`::/96`) and -translated (`::ffff:0:0:0/96`) IPv6 addresses of forbidden IPv4 ones.
//! Redirects and proxies must be off on the client (web push: its `service.rs`), so nothing else
//! decides where a request goes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Which endpoints are allowed: public HTTPS ones on an allowed port and, with an allowlist,
/// on an allowed host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// Test only: allow `http` to `localhost` or a loopback literal, and loopback addresses,
    /// on any port and whatever the host allowlist says.
    pub allow_insecure_loopback: bool,
    /// Ports an endpoint may use (its scheme's default when it names none).
    pub allowed_ports: Vec<u16>,
    /// Host names an endpoint may use, lowercase: exact, or `*.example.com` for any subdomain
    /// of `example.com`. Empty: every public host.
    pub allowed_hosts: Vec<String>,
}

/// The port of every push service.
pub const DEFAULT_PORT: u16 = 443;

impl Default for EndpointPolicy {
    /// Production: public HTTPS on port 443, any host.
    fn default() -> Self {
        Self {
            allow_insecure_loopback: false,
            allowed_ports: vec![DEFAULT_PORT],
            allowed_hosts: Vec::new(),
        }
    }
}

impl EndpointPolicy {
    /// Whether the allowlist (if any) admits `host`; a trailing dot is ignored.
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        self.allowed_hosts.is_empty()
            || self
                .allowed_hosts
                .iter()
                .any(|entry| match entry.strip_prefix("*.") {
                    Some(domain) => host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                    None => host == entry,
                })
    }
}

/// Why an endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL at all.
    #[error("endpoint is not a valid url")]
    NotUrl,
    /// A scheme other than https (or http where not allowed).
    #[error("endpoint scheme {0} is not allowed")]
    Scheme(String),
    /// No host, or user info in the URL.
    #[error("endpoint has no host or carries user info")]
    Host,
    /// A port the policy does not allow.
    #[error("endpoint port {0} is not allowed")]
    Port(u16),
    /// A host not on the configured allowlist.
    #[error("endpoint host is not on the allowlist")]
    HostNotAllowed,
    /// The host is, or resolves to, an address in a forbidden range.
    #[error("endpoint address is {0}, which is not allowed")]
    Forbidden(&'static str),
    /// The host name did not resolve.
    #[error("endpoint host does not resolve")]
    Unresolved,
}

/// Parses the endpoint and checks its scheme and any IP literal host.
pub fn check_url(endpoint: &str, policy: &EndpointPolicy) -> Result<Url, EndpointError> {
    let url = Url::parse(endpoint).map_err(|_| EndpointError::NotUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointError::Host);
    }
    // The parser has already normalised IPv4 spellings (`0x7f.1`, `2130706433`) to dotted
    // quads and IPv6 ones to their canonical form in brackets.
    let host = url.host_str().ok_or(EndpointError::Host)?;
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let test_loopback = policy.allow_insecure_loopback
        && match literal {
            Some(ip) => canonical(ip).is_loopback(),
            None => host == "localhost",
        };
    match url.scheme() {
        "https" => {}
        "http" if test_loopback => {}
        other => return Err(EndpointError::Scheme(other.to_owned())),
    }
    if let Some(ip) = literal {
        check_ip(ip, policy.allow_insecure_loopback)?;
    }
    if !test_loopback {
        let port = url.port_or_known_default().unwrap_or(0);
        if !policy.allowed_ports.contains(&port) {
            return Err(EndpointError::Port(port));
        }
        if !policy.host_allowed(host) {
            return Err(EndpointError::HostNotAllowed);
        }
    }
    Ok(url)
}

/// Checks one address: forbidden ranges are refused, loopback only without the test switch.
pub fn check_ip(ip: IpAddr, allow_insecure_loopback: bool) -> Result<(), EndpointError> {
    match forbidden_range(ip) {
        Some("loopback") if allow_insecure_loopback => Ok(()),
        Some(range) => Err(EndpointError::Forbidden(range)),
        None => Ok(()),
    }
}

/// The name of the forbidden range `ip` falls in, or `None` for a public address.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`) and IPv4-translated
/// (`::ffff:0:a.b.c.d`, RFC 2765) addresses are judged as the IPv4 address they carry; `::`
/// and `::1` stay IPv6.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            let compatible = s[..6] == [0; 6] && !(v6.is_unspecified() || v6.is_loopback());
            let translated = s[..6] == [0, 0, 0, 0, 0xffff, 0];
            if compatible || translated {
                let o = v6.octets();
                return IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            ip
        }
        IpAddr::V4(_) => ip,
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(if ip.is_unspecified() || a == 0 {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if a == 100 && (64..128).contains(&b) {
        "shared"
    } else if ip.is_link_local() {
        "link-local"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_broadcast() {
        "broadcast"
    } else if a >= 240 || (a == 192 && b == 0 && c == 0) {
        "reserved"
    } else if (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
    {
        "documentation"
    } else if a == 198 && (b == 18 || b == 19) {
        "benchmarking"
    } else {
        return None;
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let first = s[0];
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if first & 0xfe00 == 0xfc00 {
        "unique-local"
    } else if first & 0xffc0 == 0xfe80 {
        "link-local"
    } else if first & 0xffc0 == 0xfec0 {
        "site-local"
    } else if ip.is_multicast() {
        "multicast"
    } else if first == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if first == 0x0064 && s[1] == 0xff9b {
        "nat64"
    } else if first == 0x2002 {
        "6to4"
    } else if first == 0x2001 && s[1] == 0 {
        "teredo"
    } else if first == 0x2001 && s[1] == 0x0002 && s[2] == 0 {
        "benchmarking"
    } else if first == 0x0100 && s[1..4] == [0; 3] {
        "discard"
    } else {
        return None;
    })
}

/// DNS resolver for the clients that call such endpoints (web push, webhooks): resolves with the system resolver and refuses the
/// connection when any resolved address is forbidden.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    allow_insecure_loopback: bool,
}

impl GuardedResolver {
    /// A resolver enforcing the address rules of `policy` (ports and host names are checked
    /// by [`check_url`]).
    pub fn new(policy: &EndpointPolicy) -> Self {
        Self {
            allow_insecure_loopback: policy.allow_insecure_loopback,
        }
    }

    /// Resolves `host` and checks every address; what [`Resolve::resolve`] does, without
    /// reqwest's types.
    pub async fn resolve_checked(&self, host: String) -> Result<Vec<SocketAddr>, EndpointError> {
        let addrs = tokio::task::spawn_blocking(move || {
            (host.as_str(), 0u16)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>())
        })
        .await
        .map_err(|_| EndpointError::Unresolved)?
        .map_err(|_| EndpointError::Unresolved)?;
        if addrs.is_empty() {
            return Err(EndpointError::Unresolved);
        }
        for addr in &addrs {
            check_ip(addr.ip(), self.allow_insecure_loopback)?;
        }
        Ok(addrs)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = *self;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this.resolve_checked(host).await?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}
