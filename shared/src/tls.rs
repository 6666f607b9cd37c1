//! TLS as both sides see it: the certificate fingerprint openworkd prints
//! and clients pin, and (with the `trust` feature) the trust a client
//! places in a server: the system's roots plus extra CA certificates, or
//! one pinned certificate.

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The SHA-256 of a certificate (DER), written as 32 upper-case hex pairs
/// joined by colons. Parsing also takes a `sha256:` prefix, lower case and
/// no colons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    fn from_str(text: &str) -> Result<Fingerprint, String> {
        let text = text.trim();
        let text = match text.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &text[7..],
            _ => text,
        };
        let digits: String = text
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&digits, &mut bytes).map_err(|_| {
            format!("{text:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
        })?;
        Ok(Fingerprint(bytes))
    }
}

#[cfg(feature = "trust")]
pub use client::*;

#[cfg(feature = "trust")]
mod client {
    use super::Fingerprint;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::WebPkiSupportedAlgorithms;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
    use std::path::Path;
    use std::sync::Arc;

    /// Whom a client believes: the system's roots and `ca`, or, when `pin`
    /// is set, only the certificate with that fingerprint (names and
    /// issuers are then not looked at: the pin is the trust).
    #[derive(Debug, Clone, Default)]
    pub struct Trust {
        pub ca: Vec<CertificateDer<'static>>,
        pub pin: Option<Fingerprint>,
    }

    impl Trust {
        /// Add the CA certificates of a PEM file.
        pub fn add_ca_file(&mut self, path: &Path) -> Result<(), String> {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read CA certificates from {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{} holds no PEM certificate", path.display()));
            }
            self.ca.extend(certs);
            Ok(())
        }

        /// The rustls configuration a client connects with.
        pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous();
            let verifier: Arc<dyn ServerCertVerifier> = match self.pin {
                Some(pin) => Arc::new(Pinned {
                    pin,
                    algorithms: provider.signature_verification_algorithms,
                }),
                None => Arc::new(
                    rustls_platform_verifier::Verifier::new_with_extra_roots(
                        self.ca.iter().cloned(),
                        provider,
                    )
                    .map_err(|e| format!("cannot load the system's CA certificates: {e}"))?,
                ),
            };
            Ok(builder
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth())
        }
    }

    /// The server showed another certificate than the pinned one.
    #[derive(Debug, Clone, thiserror::Error)]
    #[error("the server's certificate has fingerprint {found}, not the pinned {expected}")]
    pub struct Mismatch {
        pub expected: Fingerprint,
        pub found: Fingerprint,
    }

    /// A pin mismatch somewhere in an error's chain of causes.
    pub fn find_mismatch<'a>(
        mut err: &'a (dyn std::error::Error + 'static),
    ) -> Option<&'a Mismatch> {
        loop {
            if let Some(mismatch) = err.downcast_ref::<Mismatch>() {
                return Some(mismatch);
            }
            if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) =
                err.downcast_ref::<rustls::Error>()
                && let Some(mismatch) = other.0.downcast_ref::<Mismatch>()
            {
                return Some(mismatch);
            }
            // An I/O error's `source` skips the error it carries.
            err = match err
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => inner,
                None => err.source()?,
            };
        }
    }

    #[derive(Debug)]
    struct Pinned {
        pin: Fingerprint,
        algorithms: WebPkiSupportedAlgorithms,
    }

    impl ServerCertVerifier for Pinned {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            let found = Fingerprint::of(end_entity);
            if found == self.pin {
                return Ok(ServerCertVerified::assertion());
            }
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(Mismatch {
                    expected: self.pin,
                    found,
                })),
            )))
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;

    #[test]
    fn fingerprints_parse_in_the_usual_spellings() {
        let fp = Fingerprint::of(b"certificate");
        let shown = fp.to_string();
        assert_eq!(shown.len(), 95);
        for spelling in [
            shown.clone(),
            shown.to_lowercase(),
            shown.replace(':', ""),
            format!("SHA256:{shown}"),
            format!("sha256:{}", shown.replace(':', "")),
        ] {
            assert_eq!(spelling.parse::<Fingerprint>(), Ok(fp), "{spelling}");
        }
        assert!("AB:CD".parse::<Fingerprint>().is_err());
        assert!(shown.replace('A', "G").parse::<Fingerprint>().is_err() || !shown.contains('A'));
    }
}
