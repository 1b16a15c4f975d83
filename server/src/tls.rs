//! TLS: the certificate chain and key `tls_cert`/`tls_key` name, loaded once
//! at startup into the acceptor the listener runs each connection through.
//! rustls with the ring provider; ALPN offers http/1.1 only (the server
//! speaks no HTTP/2). New certificates take a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// Why the certificate or key could not be used; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot load TLS certificate from {}: {reason}", path.display())]
    Cert { path: PathBuf, reason: String },
    #[error("cannot load TLS key from {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("cannot use the TLS certificate {} with the key {}: {source}", cert.display(), key.display())]
    Config {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// Reads the PEM certificate chain at `cert` and the PEM private key at
/// `key` and builds the acceptor every connection shares.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = load_chain(cert)?;
    let private_key = load_key(key)?;
    let config_error = |source| TlsError::Config {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    };
    // The provider is named rather than taken from the process default, so
    // another crate enabling a second provider cannot make this ambiguous.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_no_client_auth()
        // Also checks that the key belongs to the leaf certificate.
        .with_single_cert(chain, private_key)
        .map_err(config_error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |reason: String| TlsError::Cert {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|err| error(err.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| error(pem_reason(err, "certificate")))?;
    if chain.is_empty() {
        return Err(error("no certificate found".into()));
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let error = |reason: String| TlsError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|err| error(err.to_string()))?;
    // The first PKCS#8, PKCS#1 (RSA) or SEC1 (EC) key in the file.
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| error(pem_reason(err, "private key")))
}

fn pem_reason(err: pem::Error, what: &str) -> String {
    match err {
        pem::Error::NoItemsFound => format!("no {what} found"),
        other => format!("not valid PEM: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_that_is_not_pem_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate\n").expect("write cert");
        std::fs::write(&key, "not a key\n").expect("write key");

        let err = load_key(&key).expect_err("no key in the file");
        let expected = format!(
            "cannot load TLS key from {}: no private key found",
            key.display()
        );
        assert_eq!(err.to_string(), expected);
        let Err(err) = acceptor(&cert, &key) else {
            panic!("a certificate file with no certificate was accepted");
        };
        let expected = format!(
            "cannot load TLS certificate from {}: no certificate found",
            cert.display()
        );
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("absent.pem");
        let err = load_key(&key).expect_err("no file");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot load TLS key from {}: ", key.display())),
            "{text}"
        );
    }
}
