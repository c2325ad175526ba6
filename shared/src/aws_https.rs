//! The HTTPS client under every AWS SDK client of the functions: the SDK's own (hyper, rustls
//! with aws-lc-rs), trusting only the roots AWS endpoints chain to.
//!
//! The SDK's default client trusts the platform's root store, and reads all of it when the client
//! is built, during init: on a Debian or Amazon Linux image, a bundle and a directory of about 150
//! certificates each, parsed on every cold start: about 2.7 ms of it on the project's machine.
//! Without it, and with one thread (`runtime`), init fell from 9 ms to under 4 ms (`make bench`;
//! the README's "Performance"). The functions only ever call AWS endpoints, whose certificates
//! all chain to Amazon Trust Services' roots, so those five roots, compiled into the binary
//! (`shared/certs/amazon-trust-services.pem`), are the whole trust store: a faster cold start
//! and a smaller set of authorities a function trusts.
//!
//! An endpoint with a certificate from another authority (a TLS-inspecting proxy, a private
//! emulator over HTTPS) is refused: the call fails with a TLS error naming an unknown issuer.
//! Emulators are reached over plain HTTP (`AWS_ENDPOINT_URL=http://...`), which this does not
//! touch. The merchant webhook (`webhook::delivery`) is not an AWS endpoint and keeps the
//! platform's roots.

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Amazon Root CA 1 to 4 and Starfield Services Root CA - G2, as PEM.
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// The SDK's HTTPS client, trusting [`AMAZON_TRUST_SERVICES_ROOTS`] alone.
pub fn https_client() -> SharedHttpClient {
    let trust = TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes());
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a trust store of PEM certificates always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn the_trust_store_is_the_five_amazon_trust_services_roots() {
        let roots: Vec<CertificateDer> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
                .collect::<Result<_, _>>()
                .expect("every certificate parses");
        assert_eq!(roots.len(), 5);
        // Each is a self-signed root that rustls accepts as a trust anchor.
        let mut store = rustls::RootCertStore::empty();
        let (added, refused) = store.add_parsable_certificates(roots);
        assert_eq!((added, refused), (5, 0));
    }
}
