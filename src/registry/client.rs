//! One registry's HTTP API endpoint: TLS (system CAs plus Podman's
//! `certs.d/HOST:PORT/*.crt`), plain-HTTP fallback for insecure registries,
//! and authentication (Bearer tokens per scope, or Basic).
//!
//! Requests run on the caller's thread with `ureq`; nothing here starts a
//! thread or a runtime. Credentials and tokens live only in request headers
//! and never in an error message. This module knows the `/v2/` URL scheme
//! but not what manifests or blobs mean.

use super::authfile::Credentials;
use super::challenge::{self, Challenge};
use crate::chain::{bail, msg, WithContext};
use crate::registry::{Error, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::{Method, Response};

pub type Resp = Response<ureq::Body>;

/// Where to find CA bundles; fields so tests can point elsewhere.
#[derive(Debug, Clone)]
pub struct TlsSources {
    /// The system's trusted CAs (PEM).
    pub system_bundle: PathBuf,
    /// `certs.d` directories holding `HOST:PORT/*.crt`.
    pub cert_dirs: Vec<PathBuf>,
    /// `--cert-dir DIR`: `*.crt` files for whichever registry is used.
    pub cert_dir: Option<PathBuf>,
}

/// A connection to one registry host.
pub struct Client {
    /// The registry as users name it (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// The host its API is served from (`registry-1.docker.io` for Docker Hub).
    host: String,
    insecure: bool,
    agent: ureq::Agent,
    creds: Option<Credentials>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// `https` or `http`, found by the first request.
    scheme: Option<&'static str>,
    challenge: Option<Challenge>,
    /// `Authorization` header values by scope set.
    tokens: HashMap<String, String>,
}

/// A request body: none, bytes (retried after an auth challenge), or a
/// stream of known length (sent once; authenticate the scope first).
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read, u64),
}

impl Client {
    /// `insecure` allows plain HTTP and unverified TLS.
    pub fn new(
        registry: &str,
        insecure: bool,
        creds: Option<Credentials>,
        tls: &TlsSources,
    ) -> Result<Client> {
        let host = if registry == "docker.io" {
            "registry-1.docker.io".to_string()
        } else {
            registry.to_string()
        };
        let roots = if insecure {
            ureq::tls::RootCerts::WebPki
        } else {
            root_certs(&host, tls)?
        };
        let tls_config = ureq::tls::TlsConfig::builder()
            .root_certs(roots)
            .disable_verification(insecure)
            .build();
        // No overall or resolve timeout: ureq resolves host names on a helper
        // thread when one is set, and that thread could outlive the pull and
        // break the single-threaded fork that follows (see sys::process).
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls_config)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_recv_body(None)
            .max_redirects(10)
            .user_agent(concat!("hutch/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            registry: registry.to_string(),
            host,
            insecure,
            agent,
            creds,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `scheme://host/v2/<rest>`.
    pub fn url(&self, rest: &str) -> Result<String> {
        let scheme = self.scheme()?;
        Ok(format!("{scheme}://{}/v2/{rest}", self.host))
    }

    /// A `Location` header (absolute or relative to the host) as a URL.
    pub fn resolve(&self, location: &str) -> Result<String> {
        if location.starts_with("http://") || location.starts_with("https://") {
            return Ok(location.to_string());
        }
        let scheme = self.scheme()?;
        Ok(format!("{scheme}://{}{location}", self.host))
    }

    /// Find out how to talk to the registry: `GET /v2/` over HTTPS, and for
    /// an insecure registry plain HTTP when HTTPS fails (Docker's fallback).
    /// Remembers the auth challenge the answer carries.
    fn scheme(&self) -> Result<&'static str> {
        if let Some(s) = self.state().scheme {
            return Ok(s);
        }
        let mut last = None;
        let schemes: &[&'static str] = if self.insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        for &s in schemes {
            let url = format!("{s}://{}/v2/", self.host);
            match self.agent.get(&url).call() {
                Ok(r) => {
                    let mut st = self.state();
                    st.scheme = Some(s);
                    if r.status() == 401 {
                        st.challenge = challenge_of(&r);
                    }
                    return Ok(s);
                }
                Err(e) => last = Some((s, e)),
            }
        }
        let (s, e) = last.expect("at least one scheme was tried");
        Err(self.transport_error(s, e))
    }

    fn transport_error(&self, scheme: &str, e: ureq::Error) -> Error {
        let r = &self.registry;
        let tls = matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
            || e.to_string().contains("certificate");
        if tls && !self.insecure {
            return Error::Tls {
                registry: r.clone(),
                why: Box::new(e),
            };
        }
        match e {
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                Error::Refused(r.clone())
            }
            ureq::Error::HostNotFound => Error::NoHost(r.clone()),
            _ => Error::Transport {
                registry: r.clone(),
                scheme: scheme.to_string(),
                why: Box::new(e),
            },
        }
    }

    /// Send a request for `scopes` (`repository:NAME:pull`), answering one
    /// authentication challenge. Any status comes back; transport errors do not.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        mut body: Body<'_>,
        scopes: &[String],
    ) -> Result<Resp> {
        let scheme = self.scheme()?;
        let mut auth = self.auth_for(scopes)?;
        let mut tried_fresh = false;
        loop {
            let resp = self
                .attempt(&method, url, headers, auth.as_deref(), &mut body)
                .map_err(|e| self.transport_error(scheme, e))?;
            if resp.status() != 401 || tried_fresh || matches!(body, Body::Stream(..)) {
                return Ok(resp);
            }
            let Some(ch) = challenge_of(&resp) else {
                return Ok(resp);
            };
            tried_fresh = true;
            self.state().challenge = Some(ch.clone());
            auth = self.authorize(&ch, scopes)?;
            if auth.is_none() {
                return Ok(resp);
            }
        }
    }

    fn attempt(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, &str)],
        auth: Option<&str>,
        body: &mut Body<'_>,
    ) -> Result<Resp, ureq::Error> {
        let mut b = ureq::http::Request::builder()
            .method(method.clone())
            .uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        match body {
            Body::Empty => {
                let b = if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                    b.header("Content-Length", "0")
                } else {
                    b
                };
                self.agent.run(b.body(()).map_err(ureq::Error::from)?)
            }
            Body::Bytes(bytes) => {
                let b = b.header("Content-Length", bytes.len().to_string());
                self.agent.run(b.body(*bytes).map_err(ureq::Error::from)?)
            }
            Body::Stream(r, len) => {
                let b = b.header("Content-Length", len.to_string());
                let sb = ureq::SendBody::from_reader(*r);
                self.agent.run(b.body(sb).map_err(ureq::Error::from)?)
            }
        }
    }

    /// The `Authorization` value to send first for `scopes`, if any is known.
    fn auth_for(&self, scopes: &[String]) -> Result<Option<String>> {
        let (ch, cached) = {
            let st = self.state();
            (
                st.challenge.clone(),
                st.tokens.get(&scopes.join(" ")).cloned(),
            )
        };
        if cached.is_some() {
            return Ok(cached);
        }
        match ch {
            Some(ch) => self.authorize(&ch, scopes),
            None => Ok(None),
        }
    }

    /// Answer a challenge: Basic credentials, or a Bearer token fetched from
    /// the realm (with Basic credentials when we have them).
    fn authorize(&self, ch: &Challenge, scopes: &[String]) -> Result<Option<String>> {
        let value = match ch {
            Challenge::Basic => match &self.creds {
                Some(c) => c.basic_header(),
                None => return Ok(None),
            },
            Challenge::Bearer { realm, service } => {
                format!("Bearer {}", self.token(realm, service.as_deref(), scopes)?)
            }
        };
        self.state().tokens.insert(scopes.join(" "), value.clone());
        Ok(Some(value))
    }

    fn token(&self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<String> {
        let mut req = self.agent.get(realm);
        if let Some(s) = service {
            req = req.query("service", s);
        }
        for s in scopes {
            req = req.query("scope", s);
        }
        if let Some(c) = &self.creds {
            req = req
                .query("account", &c.username)
                .header("Authorization", c.basic_header());
        }
        let mut resp = req.call().map_err(|e| {
            msg!(
                "cannot get a token for registry {} from {realm}: {e}",
                self.registry
            )
        })?;
        let st = resp.status().as_u16();
        if st == 401 || st == 403 {
            return Err(self.unauthorized());
        }
        if st != 200 {
            bail!(
                "the token service {realm} of registry {} answered HTTP {st}",
                self.registry
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&read_small(&mut resp)?)
            .with_context(|| format!("the token service {realm} sent no JSON"))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .with_context(|| format!("the token service {realm} sent no token"))
            .map_err(Into::into)
    }

    /// The error for a refused login: which registry, what to do; no secret.
    pub fn unauthorized(&self) -> Error {
        let r = &self.registry;
        match &self.creds {
            Some(c) => Error::BadCredentials {
                registry: r.clone(),
                user: c.username.clone(),
            },
            None => Error::NeedsLogin(r.clone()),
        }
    }

    /// Check credentials against the registry (for `login`): `GET /v2/`
    /// must succeed with them.
    pub fn verify_login(&self) -> Result<()> {
        let url = self.url("")?;
        let ch = self.state().challenge.clone();
        match ch {
            None => Ok(()),
            Some(Challenge::Bearer { realm, service }) => {
                // Docker's login: a token for no scope proves the credentials.
                self.token(&realm, service.as_deref(), &[])?;
                Ok(())
            }
            Some(Challenge::Basic) => {
                let resp = self.send(Method::GET, &url, &[], Body::Empty, &[])?;
                match resp.status().as_u16() {
                    200 => Ok(()),
                    401 | 403 => Err(self.unauthorized()),
                    s => bail!(
                        "registry {} answered HTTP {s} to a login check",
                        self.registry
                    ),
                }
            }
        }
    }
}

fn challenge_of(r: &Resp) -> Option<Challenge> {
    r.headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(challenge::parse)
}

/// Read a small body (JSON answers, manifests): at most 8 MiB.
pub fn read_small(r: &mut Resp) -> Result<Vec<u8>> {
    r.body_mut()
        .with_config()
        .limit(8 << 20)
        .read_to_vec()
        .context("cannot read the registry's answer")
        .map_err(Into::into)
}

/// The system CAs plus any `certs.d/<host>/*.crt`.
fn root_certs(host: &str, tls: &TlsSources) -> Result<ureq::tls::RootCerts> {
    let mut pems: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    if let Ok(b) = std::fs::read(&tls.system_bundle) {
        pems.push((tls.system_bundle.clone(), b));
    }
    let mut extra = false;
    let dirs = tls.cert_dirs.iter().map(|d| d.join(host));
    for dir in tls.cert_dir.iter().cloned().chain(dirs) {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        files.sort();
        for f in files {
            let b = fs_err::read(&f)?;
            pems.push((f, b));
            extra = true;
        }
    }
    if !extra && pems.is_empty() {
        return Ok(ureq::tls::RootCerts::WebPki);
    }
    let mut certs = Vec::new();
    for (path, pem) in &pems {
        for item in ureq::tls::parse_pem(pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => bail!("cannot read the CA certificates in {}: {e}", path.display()),
            }
        }
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// A registry error body (`{"errors":[{"code":..,"message":..}]}`) as text.
pub fn error_text(r: &mut Resp) -> String {
    let status = r.status().as_u16();
    let body = read_small(r).unwrap_or_default();
    let parsed = serde_json::from_slice::<serde_json::Value>(&body).ok();
    let msgs: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    format!("{code}: {msg}")
                })
                .collect()
        })
        .unwrap_or_default();
    if msgs.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}, {}", msgs.join("; "))
    }
}

/// The registry error code of a response body, e.g. `MANIFEST_UNKNOWN`.
pub fn error_code(text: &str) -> Option<&str> {
    text.split_once(", ")
        .map(|(_, rest)| rest.split(':').next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_timeout_that_makes_ureq_resolve_on_a_thread() {
        let tls = TlsSources {
            system_bundle: PathBuf::from("/nonexistent"),
            cert_dirs: vec![],
            cert_dir: None,
        };
        let c = Client::new("localhost:5000", true, None, &tls).unwrap();
        let t = c.agent.config().timeouts();
        // ureq spawns a resolver thread when any of these is set.
        assert_eq!((t.global, t.per_call, t.resolve), (None, None, None));
        assert!(
            t.connect.is_some(),
            "an unreachable host still fails in bounded time"
        );
        assert_eq!(c.host, "localhost:5000");
        let hub = Client::new("docker.io", false, None, &tls).unwrap();
        assert_eq!(hub.host, "registry-1.docker.io");
    }

    #[test]
    fn registry_error_bodies_become_one_line() {
        let body = r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#;
        let mut r: Resp = ureq::http::Response::builder()
            .status(404)
            .body(ureq::Body::builder().data(body))
            .unwrap();
        let t = error_text(&mut r);
        assert_eq!(
            t,
            "HTTP 404, NAME_UNKNOWN: repository name not known to registry"
        );
        assert_eq!(error_code(&t), Some("NAME_UNKNOWN"));
    }
}
