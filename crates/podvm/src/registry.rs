//! Registry access through oci-client, with retries, resumable blob
//! downloads and errors that name the image.

use std::future::Future;
use std::io::{self, Read};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciEnvelope, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::auth::Credentials;
use crate::digest::BlobDigest;
use crate::error::Error;
use crate::manifest::{ACCEPTED_MANIFEST_TYPES, Descriptor, MAX_MANIFEST_SIZE};
use crate::reference::RegistryRef;
use crate::source::{SIGSTORE_BUNDLE_PREFIX, Source, digest_like};

/// How many downloaded chunks may wait for the extractor; with the chunk
/// sizes HTTP clients deliver this is well under a few MiB.
const CHANNEL_CHUNKS: usize = 16;

/// Retry policy for transient failures (5xx, 429, connection errors).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub retries: u32,
    pub base_delay: Duration,
}

impl Retry {
    fn delay(&self, attempt: u32) -> Duration {
        // Exponential backoff, capped so a long retry chain stays bounded.
        let factor = 1u32 << attempt.min(5);
        (self.base_delay * factor).min(Duration::from_secs(10))
    }
}

/// How long requests may take: each connection attempt, each read, and all
/// requests for the image together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    pub total: Duration,
}

/// The end of the time allowed for an image's requests.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: tokio::time::Instant,
    limit: Duration,
}

impl Deadline {
    fn timeout(&self, image: &str, what: String) -> Error {
        Error::Timeout { image: image.to_owned(), what, limit: self.limit }
    }

    /// Runs `fut`, or fails with [`Error::Timeout`] when the time is up.
    async fn bound<T>(
        &self,
        image: &str,
        what: impl FnOnce() -> String,
        fut: impl Future<Output = T>,
    ) -> Result<T, Error> {
        tokio::time::timeout_at(self.at, fut).await.map_err(|_| self.timeout(image, what()))
    }

    /// Sleeps `delay` before a retry, unless the retry would start after the deadline.
    async fn sleep(&self, image: &str, what: &str, delay: Duration, last: &Error) -> Result<(), Error> {
        if tokio::time::Instant::now() + delay >= self.at {
            return Err(self.timeout(image, format!("{what}, retrying after: {last}")));
        }
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// An image in a registry.
pub(crate) struct RegistrySource {
    image: String,
    reference: RegistryRef,
    client: Client,
    auth: RegistryAuth,
    handle: Handle,
    retry: Retry,
    deadline: Deadline,
    /// Manifests are read with this client rather than oci-client's, which
    /// buffers a whole response before anything can look at its size.
    http: reqwest::Client,
    /// `https`, or `http` for an insecure registry that does not speak TLS.
    scheme: &'static str,
}

/// What went wrong in one request, and whether trying again may help.
struct Failure {
    error: Error,
    transient: bool,
}

impl RegistrySource {
    pub(crate) fn new(
        image: String,
        reference: RegistryRef,
        credentials: Credentials,
        insecure_registries: &[String],
        timeouts: Timeouts,
        handle: Handle,
        retry: Retry,
    ) -> Result<RegistrySource, Error> {
        let deadline = Deadline { at: tokio::time::Instant::now() + timeouts.total, limit: timeouts.total };
        let registry = reference.registry();
        // An insecure registry is reached over TLS without checking its
        // certificate when it speaks TLS, over plain HTTP otherwise (as
        // podman and skopeo treat `insecure = true`).
        let unverified_tls = insecure_registries.iter().any(|r| r == registry)
            && speaks_tls(registry, timeouts.connect.min(timeouts.total).min(PROBE_TIMEOUT));
        let config = ClientConfig {
            protocol: if unverified_tls {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(insecure_registries.to_vec())
            },
            accept_invalid_certificates: unverified_tls,
            // Index resolution is ours, so that the index digest can be
            // verified and the platform chosen explicitly.
            platform_resolver: None,
            connect_timeout: Some(timeouts.connect),
            read_timeout: Some(timeouts.read),
            ..Default::default()
        };
        let setup = |e: &dyn std::fmt::Display| Error::Registry {
            image: image.clone(),
            reason: format!("cannot set up the HTTP client: {e}"),
        };
        let scheme = if insecure_registries.iter().any(|r| r == registry) && !unverified_tls {
            "http"
        } else {
            "https"
        };
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.read)
            .tls_danger_accept_invalid_certs(unverified_tls)
            .build()
            .map_err(|e| setup(&e))?;
        let client = Client::try_from(config).map_err(|e| setup(&e))?;
        let auth = match credentials {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => RegistryAuth::Basic(username, password),
        };
        Ok(RegistrySource { image, reference, client, auth, handle, retry, deadline, http, scheme })
    }

    fn oci_ref(&self, tag: Option<&str>, digest: Option<&BlobDigest>) -> Reference {
        let (reg, repo) = (self.reference.registry().to_owned(), self.reference.repository().to_owned());
        match (tag, digest) {
            (_, Some(d)) => Reference::with_digest(reg, repo, d.to_string()),
            (Some(t), None) => Reference::with_tag(reg, repo, t.to_owned()),
            (None, None) => Reference::with_tag(reg, repo, "latest".to_owned()),
        }
    }

    /// Runs `op` until it succeeds, fails for good, or runs out of retries.
    fn with_retries<T, F, Fut>(&self, what: &str, op: F) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        self.handle.block_on(async {
            let mut attempt = 0;
            loop {
                match self.deadline.bound(&self.image, || what.to_owned(), op()).await? {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        let f = classify(&self.image, what, e);
                        if !f.transient || attempt >= self.retry.retries {
                            return Err(f.error);
                        }
                        tracing::debug!(image = %self.image, what, attempt, "retrying: {}", f.error);
                        self.deadline.sleep(&self.image, what, self.retry.delay(attempt), &f.error).await?;
                        attempt += 1;
                    }
                }
            }
        })
    }

    fn get_manifest(&self, r: &Reference, what: &str) -> Result<Vec<u8>, Error> {
        self.with_retries(what, || self.pull_manifest_capped(r, what))?
    }

    /// The manifest `r` names, read only up to [`MAX_MANIFEST_SIZE`] bytes:
    /// a larger one is refused when its Content-Length, or its bytes so
    /// far, pass the cap. Transport and HTTP failures are oci-client errors,
    /// for [`classify`] and the retries; the refusal is final.
    async fn pull_manifest_capped(
        &self,
        r: &Reference,
        what: &str,
    ) -> Result<Result<Vec<u8>, Error>, OciDistributionError> {
        let token = self.client.auth(r, &self.auth, RegistryOperation::Pull).await?;
        let url = format!(
            "{}://{}/v2/{}/manifests/{}",
            self.scheme,
            r.resolve_registry(),
            r.repository(),
            r.digest().or(r.tag()).unwrap_or("latest")
        );
        let request = self.http.get(&url).header(reqwest::header::ACCEPT, ACCEPTED_MANIFEST_TYPES.join(", "));
        let request = match (token, &self.auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            (None, _) => request,
        };
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            // An error body is read for its message only, and only so far.
            let body = read_capped(response, 64 << 10).await?.unwrap_or_default();
            return Err(match serde_json::from_slice::<OciEnvelope>(&body) {
                Ok(envelope) if !envelope.errors.is_empty() => {
                    OciDistributionError::RegistryError { envelope, url }
                }
                _ => OciDistributionError::ServerError {
                    code: status.as_u16(),
                    url,
                    message: String::from_utf8_lossy(&body).into_owned(),
                },
            });
        }
        Ok(match read_capped(response, MAX_MANIFEST_SIZE).await? {
            Some(body) => Ok(body),
            None => Err(Error::Registry {
                image: self.image.clone(),
                reason: format!(
                    "{what}: the registry sent more than {MAX_MANIFEST_SIZE} bytes, the most a manifest may have"
                ),
            }),
        })
    }
}

/// The body of `response`, or `None` as soon as it is known to be longer
/// than `cap` bytes.
async fn read_capped(response: reqwest::Response, cap: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// How long the TLS probe of an insecure registry waits for an answer; a
/// server that says nothing to a ClientHello in that time is taken for
/// plain HTTP.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether the server at `host[:port]` answers a TLS ClientHello with a TLS
/// record (a handshake or an alert). A plain HTTP server answers with an
/// HTTP status line or closes; so does anything unreachable, which the
/// requests then report.
fn speaks_tls(registry: &str, timeout: Duration) -> bool {
    use std::io::Write as _;
    use std::net::{TcpStream, ToSocketAddrs as _};
    let addr = if registry.rsplit_once(':').is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())) {
        registry.to_owned()
    } else {
        format!("{registry}:443")
    };
    let Some(addr) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else { return false };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, timeout) else { return false };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let mut first = [0u8; 1];
    s.write_all(&client_hello()).is_ok()
        && s.read_exact(&mut first).is_ok()
        && matches!(first[0], 0x15 | 0x16)
}

/// A minimal TLS 1.2 ClientHello (RFC 5246, section 7.4.1.2): enough for a
/// server to answer with its own handshake or an alert.
fn client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([0x5a; 32]); // client random: not used for any secret here
    body.push(0); // no session id
    // TLS_ECDHE_RSA/ECDSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_128_GCM_SHA256
    body.extend([0x00, 0x06, 0xc0, 0x2f, 0xc0, 0x2b, 0x00, 0x9c]);
    body.extend([0x01, 0x00]); // null compression only
    // supported_groups (x25519, secp256r1), ec_point_formats (uncompressed)
    let ext =
        [0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x0b, 0x00, 0x02, 0x01, 0x00];
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut handshake = vec![0x01];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

/// Sorts an oci-client error into ours.
fn classify(image: &str, what: &str, e: OciDistributionError) -> Failure {
    let image = image.to_owned();
    let permanent = |error| Failure { error, transient: false };
    let not_found = |image: String| Error::NotFound { image, what: what.to_owned() };
    match e {
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
            permanent(Error::AccessDenied { image, status: 401 })
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.contains(&&OciErrorCode::Unauthorized) {
                permanent(Error::AccessDenied { image, status: 401 })
            } else if codes.contains(&&OciErrorCode::Denied) {
                permanent(Error::AccessDenied { image, status: 403 })
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                permanent(not_found(image))
            } else {
                Failure {
                    transient: codes.contains(&&OciErrorCode::Toomanyrequests),
                    error: Error::Registry { image, reason: format!("{what}: {envelope}") },
                }
            }
        }
        OciDistributionError::ServerError { code, message, .. } => match code {
            401 | 403 => permanent(Error::AccessDenied { image, status: code }),
            404 => permanent(not_found(image)),
            _ => Failure {
                transient: code >= 500 || code == 429,
                error: Error::Registry { image, reason: format!("{what}: HTTP {code} {}", message.trim()) },
            },
        },
        OciDistributionError::RequestError(e) => Failure {
            transient: e.is_connect() || e.is_timeout() || e.is_request() || e.is_body(),
            error: Error::Unreachable { image, reason: format!("{what}: {}", error_chain(&e)) },
        },
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError {
            expected,
            actual,
        }) => match (expected.parse::<BlobDigest>(), actual.parse::<BlobDigest>()) {
            (Ok(expected), Ok(actual)) => {
                permanent(Error::DigestMismatch { image, what: what.to_owned(), expected, actual })
            }
            _ => permanent(Error::Registry {
                image,
                reason: format!("{what}: digest mismatch ({expected} vs {actual})"),
            }),
        },
        OciDistributionError::IoError(e) => {
            Failure { transient: true, error: Error::Unreachable { image, reason: format!("{what}: {e}") } }
        }
        other => permanent(Error::Registry { image, reason: format!("{what}: {other}") }),
    }
}

/// An error and its causes on one line (reqwest hides the interesting part
/// in the source chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Source for RegistrySource {
    fn image(&self) -> &str {
        &self.image
    }

    fn root(&self) -> Result<(Vec<u8>, BlobDigest), Error> {
        let r = self.oci_ref(self.reference.tag(), self.reference.digest().as_ref());
        let what = match (self.reference.digest(), self.reference.tag()) {
            (Some(d), _) => format!("manifest {d}"),
            (None, Some(t)) => format!("manifest for tag {t}"),
            (None, None) => "manifest for tag latest".to_owned(),
        };
        let bytes = self.get_manifest(&r, &what)?;
        // The digest is computed from the bytes received, never taken from a
        // header, and a digest reference must match it.
        let actual = match self.reference.digest() {
            Some(d) => digest_like(&d, &bytes),
            None => BlobDigest::sha256_of(&bytes),
        };
        if let Some(d) = self.reference.digest()
            && d != actual
        {
            return Err(Error::DigestMismatch {
                image: self.image.clone(),
                what: "manifest".into(),
                expected: d,
                actual,
            });
        }
        Ok((bytes, actual))
    }

    fn manifest_by_tag(&self, tag: &str) -> Result<Option<(Vec<u8>, BlobDigest)>, Error> {
        let r = self.oci_ref(Some(tag), None);
        match self.get_manifest(&r, &format!("manifest for tag {tag}")) {
            Ok(bytes) => {
                let d = BlobDigest::sha256_of(&bytes);
                Ok(Some((bytes, d)))
            }
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn manifest(&self, digest: &BlobDigest) -> Result<Vec<u8>, Error> {
        let r = self.oci_ref(None, Some(digest));
        self.get_manifest(&r, &format!("manifest {digest}"))
    }

    fn sigstore_bundle_referrers(&self, digest: &BlobDigest) -> Result<usize, Error> {
        // The referrers API, or the tag schema where a registry lacks it.
        let r = self.oci_ref(None, Some(digest));
        let index = self.with_retries("referrers", || self.client.pull_referrers(&r, None))?;
        Ok(index
            .manifests
            .iter()
            .filter(|e| e.artifact_type.as_deref().is_some_and(|t| t.starts_with(SIGSTORE_BUNDLE_PREFIX)))
            .count())
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>, Error> {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let feeder = Feeder {
            image: self.image.clone(),
            client: self.client.clone(),
            reference: self.oci_ref(None, Some(&desc.digest)),
            digest: desc.digest.to_string(),
            size: desc.size,
            retry: self.retry,
            deadline: self.deadline,
            tx,
        };
        self.handle.spawn(feeder.run());
        Ok(Box::new(ChannelReader { rx, current: Bytes::new() }))
    }
}

/// Downloads one blob in a task and hands the chunks to the blocking
/// extractor, resuming with a range request after a transient failure.
///
/// Bytes are forwarded unchecked: the extractor hashes everything it
/// receives, so a resumed download is verified as a whole.
struct Feeder {
    image: String,
    client: Client,
    reference: Reference,
    digest: String,
    size: u64,
    retry: Retry,
    deadline: Deadline,
    tx: mpsc::Sender<Result<Bytes, Error>>,
}

impl Feeder {
    async fn run(self) {
        if let Err(e) = self.feed().await {
            let _ = self.tx.send(Err(e)).await;
        }
    }

    /// Forwards the blob's bytes; an error is for the extractor to report.
    async fn feed(&self) -> Result<(), Error> {
        let what = format!("blob {}", self.digest);
        let image = self.image.as_str();
        let mut offset: u64 = 0;
        let mut attempt = 0u32;
        loop {
            let open = async {
                if offset == 0 {
                    self.client.pull_blob_stream(&self.reference, self.digest.as_str()).await.map(|s| (s, 0))
                } else {
                    match self
                        .client
                        .pull_blob_stream_partial(&self.reference, self.digest.as_str(), offset, None)
                        .await
                    {
                        Ok(BlobResponse::Partial(s)) => Ok((s, 0)),
                        // The server ignored the range: skip what was delivered.
                        Ok(BlobResponse::Full(s)) => Ok((s, offset)),
                        Err(e) => Err(e),
                    }
                }
            };
            let (mut stream, mut skip) = match self.deadline.bound(image, || what.clone(), open).await? {
                Ok(v) => v,
                Err(e) => {
                    let f = classify(image, &what, e);
                    if f.transient && attempt < self.retry.retries {
                        self.deadline.sleep(image, &what, self.retry.delay(attempt), &f.error).await?;
                        attempt += 1;
                        continue;
                    }
                    return Err(f.error);
                }
            };
            // The length announced must be what the descriptor promises
            // (less what was already received), before any byte is read.
            let expected = self.size - (offset - skip);
            if let Some(announced) = stream.content_length
                && announced != expected
            {
                return Err(Error::Registry {
                    image: image.to_owned(),
                    reason: format!(
                        "{what}: the registry announced {announced} bytes (Content-Length) where {expected} were expected"
                    ),
                });
            }
            let mut failed: Option<String> = None;
            loop {
                let next = self
                    .deadline
                    .bound(image, || format!("{what} after {offset} of {} bytes", self.size), stream.next())
                    .await?;
                let Some(item) = next else { break };
                match item {
                    Ok(mut chunk) => {
                        if skip > 0 {
                            let n = usize::try_from(skip.min(chunk.len() as u64)).unwrap_or(0);
                            let _ = chunk.split_to(n);
                            skip -= n as u64;
                        }
                        if chunk.is_empty() {
                            continue;
                        }
                        offset += chunk.len() as u64;
                        if self.tx.send(Ok(chunk)).await.is_err() {
                            // The extractor gave up; nobody needs the rest.
                            return Ok(());
                        }
                    }
                    Err(e) => {
                        failed = Some(error_chain(&e));
                        break;
                    }
                }
            }
            match failed {
                None => return Ok(()),
                // oci-client checks the digest itself when a full response
                // ends and reports a mismatch as a stream error; all bytes
                // were forwarded, and the extractor's own check reports it.
                Some(_) if offset >= self.size => return Ok(()),
                Some(reason) if attempt >= self.retry.retries => {
                    return Err(Error::Unreachable {
                        image: image.to_owned(),
                        reason: format!("{what} broke off after {offset} bytes: {reason}"),
                    });
                }
                Some(reason) => {
                    tracing::debug!(image = %self.image, offset, "resuming {what}: {reason}");
                    let last = Error::Unreachable { image: image.to_owned(), reason: reason.clone() };
                    self.deadline.sleep(image, &what, self.retry.delay(attempt), &last).await?;
                    attempt += 1;
                }
            }
        }
    }
}

/// The blocking side of a [`Feeder`].
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, Error>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
