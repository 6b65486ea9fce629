//! TLS and HTTP/2 as a client meets them: certificates made by openssl in a directory of the
//! test's own, a rustls client trusting one authority, and WebSockets opened over a TLS
//! connection (HTTP/1.1 upgrade) or as a stream of an HTTP/2 connection (RFC 8441).

use super::{Io, Ws};
use axum::body::Body;
use hyper::http::{Method, Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A directory of the test's own for certificates, removed when dropped.
pub struct CertDir(pub PathBuf);

impl CertDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("warren-certs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    fn openssl(&self, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(&self.0)
            .output()
            .expect("openssl must be installed");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A certificate authority: `<name>.pem` and `<name>.key`.
    pub fn authority(&self, name: &str) -> PathBuf {
        let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
        let subject = format!("/CN=warren test authority {name}");
        self.openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", &subject,
            "-keyout", &key, "-out", &cert,
        ]);
        self.path(&cert)
    }

    /// A server certificate for 127.0.0.1 and localhost signed by `authority`, valid for a day:
    /// `<name>.pem` and `<name>.key`, returned in that order.
    pub fn server(&self, authority: &str, name: &str) -> (PathBuf, PathBuf) {
        self.server_valid_for(authority, name, 1)
    }

    /// [`CertDir::server`], valid for `days` from now.
    pub fn server_valid_for(&self, authority: &str, name: &str, days: u32) -> (PathBuf, PathBuf) {
        let (cert, key, request) = (
            format!("{name}.pem"),
            format!("{name}.key"),
            format!("{name}.csr"),
        );
        self.openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &key,
            "-out",
            &request,
        ]);
        let extensions = format!("{name}.ext");
        std::fs::write(
            self.path(&extensions),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &request,
            "-CA",
            &format!("{authority}.pem"),
            "-CAkey",
            &format!("{authority}.key"),
            "-CAcreateserial",
            "-days",
            &days.to_string(),
            "-extfile",
            &extensions,
            "-out",
            &cert,
        ]);
        (self.path(&cert), self.path(&key))
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A client trusting only the authority in `ca` (PEM), offering `alpn` (empty: none).
pub fn client(ca: &Path, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `address` for the name `localhost`.
pub async fn connect(
    connector: &TlsConnector,
    address: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// The protocol ALPN settled on, as text ("" without one).
pub fn alpn(stream: &TlsStream<TcpStream>) -> String {
    let protocol = stream.get_ref().1.alpn_protocol().unwrap_or_default();
    String::from_utf8_lossy(protocol).into_owned()
}

/// The first certificate the server presented.
pub fn served_certificate(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// The first certificate in a PEM file, as DER.
pub fn certificate_der(pem: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// One HTTP/2 connection, over TLS (`https`) or with prior knowledge (`http`), on which requests
/// and WebSockets are opened as streams.
pub struct H2 {
    sender: hyper::client::conn::http2::SendRequest<Body>,
    scheme: &'static str,
    authority: String,
}

impl H2 {
    pub async fn handshake(io: Box<dyn Io>, scheme: &'static str, authority: &str) -> Self {
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(io))
            .await
            .expect("an HTTP/2 connection");
        tokio::spawn(connection);
        Self {
            sender,
            scheme,
            authority: authority.to_owned(),
        }
    }

    fn uri(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.authority)
    }

    /// A GET on this connection: its status and body.
    pub async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let request = Request::get(self.uri(path))
            .version(Version::HTTP_2)
            .body(Body::empty())
            .unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(Body::new(response.into_body()), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A WebSocket by extended CONNECT on a new stream of this connection; `Err` with the status
    /// when the server refuses it.
    pub async fn websocket(&mut self, path: &str) -> Result<Ws, StatusCode> {
        let request = Request::builder()
            .method(Method::CONNECT)
            .version(Version::HTTP_2)
            .uri(self.uri(path))
            .header("sec-websocket-version", "13")
            .extension(hyper::ext::Protocol::from_static("websocket"))
            .body(Body::empty())
            .unwrap();
        let mut response = self.sender.send_request(request).await.unwrap();
        if response.status() != StatusCode::OK {
            return Err(response.status());
        }
        let upgraded = hyper::upgrade::on(&mut response).await.unwrap();
        Ok(Ws::over_raw(Box::new(TokioIo::new(upgraded))).await)
    }
}
