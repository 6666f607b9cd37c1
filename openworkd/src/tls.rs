//! TLS serving (rustls): a certificate chain and key from PEM files, or a
//! self-signed pair made for the names served and kept in the data folder.
//! A reload (SIGHUP) reads the files again; connections accepted after it
//! get the new certificate, open ones keep theirs.

use crate::config::{Config, TlsSource};
use arc_swap::ArcSwap;
use openwork_shared::tls::Fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// What a TLS listener serves, swappable while running.
pub struct Tls {
    source: TlsSource,
    rustls: ArcSwap<rustls::ServerConfig>,
    fingerprint: ArcSwap<Fingerprint>,
}

/// A certificate ready to serve, and its leaf's fingerprint.
struct Loaded {
    config: Arc<rustls::ServerConfig>,
    fingerprint: Fingerprint,
}

impl Tls {
    /// The TLS `config` asks for, if any; a self-signed pair is made on
    /// first use. Fails when the files cannot be read or do not match.
    pub fn load(config: &Config) -> Result<Option<Tls>, String> {
        let Some(source) = config.tls.clone() else {
            return Ok(None);
        };
        let loaded = load(&source, config)?;
        Ok(Some(Tls {
            source,
            rustls: ArcSwap::new(loaded.config),
            fingerprint: ArcSwap::from_pointee(loaded.fingerprint),
        }))
    }

    /// What accepts a connection with the certificate served now.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.rustls.load_full())
    }

    /// The fingerprint of the certificate new connections get.
    pub fn fingerprint(&self) -> Fingerprint {
        **self.fingerprint.load()
    }

    pub fn self_signed(&self) -> bool {
        self.source == TlsSource::SelfSigned
    }

    /// Read the certificate again (as `config` now names it). On failure
    /// the running certificate stays.
    pub fn reload(&self, config: &Config) -> Result<Fingerprint, String> {
        let source = match &config.tls {
            Some(source) if source.is_files() == self.source.is_files() => source,
            _ => {
                return Err(
                    "turning TLS on or off, or between files and self-signed, applies at the next start"
                        .into(),
                );
            }
        };
        let loaded = load(source, config)?;
        self.rustls.store(loaded.config);
        self.fingerprint.store(Arc::new(loaded.fingerprint));
        Ok(loaded.fingerprint)
    }
}

fn load(source: &TlsSource, config: &Config) -> Result<Loaded, String> {
    match source {
        TlsSource::Files { cert, key } => from_files(cert, key),
        TlsSource::SelfSigned => self_signed(&config.data_dir.join("tls"), &config.host),
    }
}

/// A PEM file's bytes: a regular file only, read without waiting (a FIFO
/// is refused, not waited on) and bounded.
fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    crate::workspace::paths::read_file(path, 1 << 20)
        .map(|(_, bytes)| bytes)
        .map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
}

fn from_files(cert: &Path, key: &Path) -> Result<Loaded, String> {
    let chain = CertificateDer::pem_slice_iter(&read_pem(cert, "certificate")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    let Some(leaf) = chain.first() else {
        return Err(format!(
            "the TLS certificate file {} holds no PEM certificate",
            cert.display()
        ));
    };
    let fingerprint = Fingerprint::of(leaf);
    let key = PrivateKeyDer::from_pem_slice(&read_pem(key, "key")?)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!(
                "the TLS certificate {} and its key do not make a usable pair: {e}",
                cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint,
    })
}

/// The self-signed pair in `dir`, made (key and certificate mode 0600) when
/// missing, for localhost, the loopback addresses, the machine's name and
/// the configured host.
fn self_signed(dir: &Path, host: &str) -> Result<Loaded, String> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !(cert.exists() && key.exists()) {
        generate(dir, &cert, &key, host)?;
    }
    from_files(&cert, &key)
}

fn generate(dir: &Path, cert: &Path, key: &Path, host: &str) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    for name in [machine.trim(), host.trim()] {
        let unspecified = name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        if !name.is_empty() && !unspecified && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
    let io = |path: &Path, e: std::io::Error| format!("cannot write {}: {e}", path.display());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io(dir, e))?;
    crate::workspace::paths::write_atomic_with_mode(
        key,
        made.signing_key.serialize_pem().as_bytes(),
        0o600,
    )
    .map_err(|e| io(key, e))?;
    crate::workspace::paths::write_atomic_with_mode(cert, made.cert.pem().as_bytes(), 0o600)
        .map_err(|e| io(cert, e))?;
    crate::logging::info(&format!(
        "Made a self-signed TLS certificate in {}",
        dir.display()
    ));
    Ok(())
}
