//! The rustls client configuration for each [`TlsMode`], always with the ring provider:
//! system roots (plus an optional CA) or an explicit "insecure" verifier that still checks
//! handshake signatures.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::TlsMode;
use crate::error::{Error, Result};

fn config_error(message: String) -> Error {
    Error::Config { message }
}

/// Builds the rustls client config for `mode`.
pub(crate) fn client_config(mode: &TlsMode) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(format!("TLS protocol setup failed: {e}")))?;
    let config = match mode {
        TlsMode::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
            .with_no_client_auth(),
        TlsMode::Verify | TlsMode::CaFile(_) | TlsMode::CaPem(_) => {
            let mut roots = RootCertStore::empty();
            let extra = match mode {
                TlsMode::CaFile(path) => {
                    let pem = std::fs::read(path).map_err(|e| {
                        config_error(format!("cannot read CA file {}: {e}", path.display()))
                    })?;
                    parse_pem_certs(&pem, &format!("CA file {}", path.display()))?
                }
                TlsMode::CaPem(pem) => parse_pem_certs(pem.as_bytes(), "CA PEM")?,
                _ => Vec::new(),
            };
            for cert in extra {
                roots
                    .add(cert)
                    .map_err(|e| config_error(format!("CA certificate is unusable: {e}")))?;
            }
            let native = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(system_roots = added, "loaded system CA roots");
            if roots.is_empty() {
                return Err(config_error(
                    "tls = verify, but no CA certificates were found on this system; \
                     give a CA file or PEM, or opt in to insecure"
                        .into(),
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(config)
}

/// Parses every certificate in a PEM blob; at least one is required.
fn parse_pem_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut reader = std::io::BufReader::new(pem);
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{what} contains no CERTIFICATE block"
        )));
    }
    Ok(certs)
}

/// Accepts any server certificate but still verifies that the peer owns its key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_pem_is_a_config_error() {
        let e = client_config(&TlsMode::CaPem("not a pem".into())).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e}");
        let e = client_config(&TlsMode::CaFile("/nonexistent/ca.pem".into())).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn insecure_builds() {
        client_config(&TlsMode::Insecure).unwrap();
    }
}
