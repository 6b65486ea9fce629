//! TLS on the client listener: the certificate chain and key from PEM files (`--tls-cert`,
//! `--tls-key`), HTTP/2 offered by ALPN beside HTTP/1.1, and the files read again when they
//! change.
//!
//! A certificate is read only at a handshake, so a renewed one (certbot, cert-manager, a mounted
//! Kubernetes Secret) takes effect for new connections while open ones, WebSockets included, keep
//! the session they made. The files are compared every [`RELOAD_CHECK`] rather than watched: a
//! Kubernetes Secret is swapped by a symlink rename that file watchers report unevenly, and two
//! small reads every few seconds cost nothing. A pair that does not load (half written, a key that
//! is not the certificate's) is refused and the previous pair kept; the next change is tried
//! again.

use crate::series;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_util::sync::CancellationToken;

/// How often the files are compared with the pair being served.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// Where the certificate chain and its key are, as the settings name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why a certificate and key could not be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    // The causes are part of each message, not sources: one line says it all, once.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is not PEM: {error}", path.display())]
    Pem { path: PathBuf, error: pem::Error },
    #[error("{} holds no certificate (a PEM block `BEGIN CERTIFICATE`)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no private key (PKCS#8, PKCS#1 or SEC1 PEM)", path.display())]
    NoKey { path: PathBuf },
    #[error("the key in {} does not fit the certificate in {}: {error}", key.display(), cert.display())]
    Key {
        cert: PathBuf,
        key: PathBuf,
        error: rustls::Error,
    },
    #[error("TLS cannot be set up: {0}")]
    Config(#[from] rustls::Error),
}

/// The files' bytes as last read: a reload is tried only when they differ.
type Contents = (Vec<u8>, Vec<u8>);

/// The pair being served, swapped whole when the files change.
#[derive(Debug)]
pub struct Certificates {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    seen: Mutex<Contents>,
}

impl Certificates {
    /// Reads and checks the pair; the gateway does not start without one that loads.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let contents = read(files)?;
        let key = certified_key(files, &contents, &provider)?;
        note_expiry(&key);
        Ok(Self {
            files: files.clone(),
            provider,
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new(contents),
        })
    }

    /// The acceptor for the client listener: TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`, and
    /// this pair (as it is at each handshake).
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Compares the files with the pair served every [`RELOAD_CHECK`] and serves them once they
    /// have changed and load, until `shutdown`.
    pub async fn keep_current(self: Arc<Self>, shutdown: CancellationToken) {
        let mut check = tokio::time::interval(RELOAD_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = check.tick() => {}
                () = shutdown.cancelled() => return,
            }
            // Blocking file reads, off the runtime's workers.
            let this = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || this.reload_if_changed()).await;
        }
    }

    /// One check: `true` when a new pair is now served.
    pub fn reload_if_changed(&self) -> bool {
        let files = &self.files;
        let contents = match read(files) {
            Ok(contents) => contents,
            // A file missing for a moment (replaced by rename) is looked at again next time.
            Err(error) => {
                tracing::debug!(%error, "TLS files not readable now");
                return false;
            }
        };
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == contents {
                return false;
            }
            *seen = contents.clone();
        }
        match certified_key(files, &contents, &self.provider) {
            Ok(key) => {
                note_expiry(&key);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
                metrics::counter!(series::TLS_RELOADS, "outcome" => "loaded").increment(1);
                tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(error) => {
                metrics::counter!(series::TLS_RELOADS, "outcome" => "refused").increment(1);
                tracing::warn!(%error, "TLS files changed but do not load; still serving the previous certificate");
                false
            }
        }
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// Sets the expiry gauge from the served certificate, and warns when it has expired already: an
/// operator renewing by hand learns of it here before clients do.
fn note_expiry(key: &CertifiedKey) {
    let Ok(end_entity) = key.end_entity_cert() else {
        return;
    };
    let Ok((_, certificate)) = x509_parser::parse_x509_certificate(end_entity) else {
        return;
    };
    let not_after = certificate.validity().not_after;
    // Seconds since 1970 fit a gauge's f64 exactly.
    metrics::gauge!(series::TLS_CERTIFICATE_EXPIRY).set(not_after.timestamp() as f64);
    if !certificate.validity().is_valid() {
        tracing::warn!(%not_after, "the TLS certificate is not valid now (expired, or not yet valid)");
    }
}

fn read(files: &TlsFiles) -> Result<Contents, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|error| TlsError::Read {
            path: path.to_owned(),
            error,
        })
    };
    Ok((read(&files.cert)?, read(&files.key)?))
}

fn certified_key(
    files: &TlsFiles,
    (cert, key): &Contents,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let pem_error = |path: &Path| {
        let path = path.to_owned();
        move |error| TlsError::Pem { path, error }
    };
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(&files.cert))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: files.key.clone(),
        },
        other => pem_error(&files.key)(other),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|error| TlsError::Key {
        cert: files.cert.clone(),
        key: files.key.clone(),
        error,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn files(dir: &Path) -> TlsFiles {
        TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    #[test]
    fn unreadable_or_empty_files_are_refused_with_the_file_named() {
        let dir = std::env::temp_dir().join(format!("warren-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = files(&dir);
        let missing = Certificates::load(&files).unwrap_err();
        assert!(matches!(missing, TlsError::Read { ref path, .. } if *path == files.cert));
        std::fs::write(&files.cert, "not a certificate\n").unwrap();
        std::fs::write(&files.key, "not a key\n").unwrap();
        let empty = Certificates::load(&files).unwrap_err();
        assert!(matches!(empty, TlsError::NoCertificate { .. }), "{empty}");
        assert!(empty.to_string().contains("cert.pem"), "{empty}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
