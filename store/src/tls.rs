//! TLS to the database nodes from `[store.tls]`.
//!
//! Guarantees: a node is accepted only when its certificate chains to `ca_file` and names the
//! node's IP address (the driver verifies a node by the address it connects to, so node
//! certificates carry `subjectAltName = IP:...`); a client certificate is presented when one is
//! configured. Files that cannot be read or hold no usable PEM are a [`StoreError::Config`]
//! naming the file.

use std::path::Path;
use std::sync::Arc;

use notify_common::config::StoreTls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::session::{StoreError, StoreResult};

fn unusable(path: &Path, what: impl std::fmt::Display) -> StoreError {
    StoreError::Config(format!("store.tls: {}: {what}", path.display()))
}

fn certificates(path: &Path) -> StoreResult<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| unusable(path, err))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| unusable(path, err))?;
    if certs.is_empty() {
        return Err(unusable(path, "no certificate in it"));
    }
    Ok(certs)
}

/// The rustls client configuration `tls` describes.
pub fn client_config(tls: &StoreTls) -> StoreResult<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(&tls.ca_file)? {
        roots.add(cert).map_err(|err| unusable(&tls.ca_file, err))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| StoreError::Config(format!("store.tls: {err}")))?
        .with_root_certificates(roots);
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert)?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|err| unusable(key, err))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|err| unusable(key, err))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_empty_files_are_named() {
        let dir = std::env::temp_dir().join(format!("notify-store-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = StoreTls {
            ca_file: dir.join("absent.pem"),
            cert_file: None,
            key_file: None,
        };
        let err = client_config(&missing).unwrap_err().to_string();
        assert!(err.contains("absent.pem"), "{err}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(&StoreTls {
            ca_file: empty,
            ..missing
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("no certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
