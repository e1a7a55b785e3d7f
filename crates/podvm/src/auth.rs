//! Registry credentials from docker config JSON files and credential helpers.
//!
//! Lookup order, as containers-auth.json(5) and docker's `config.json`
//! describe it: an explicit auth file alone; else `REGISTRY_AUTH_FILE` alone;
//! else `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config`), and
//! `$DOCKER_CONFIG/config.json` (default `~/.docker`), the first file with an
//! entry for the registry winning. Within a file, `credHelpers` for the
//! registry come first, then an `auths` entry (the most specific
//! `host/namespace` key first), then the default `credsStore`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::error::Error;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    Anonymous,
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username})"),
        }
    }
}

/// The environment the lookup reads, captured once so tests can supply
/// their own without touching the process environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthEnv {
    pub registry_auth_file: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub path: Option<OsString>,
}

impl AuthEnv {
    pub(crate) fn from_process() -> AuthEnv {
        let p = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        AuthEnv {
            registry_auth_file: p("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir: p("XDG_RUNTIME_DIR"),
            xdg_config_home: p("XDG_CONFIG_HOME"),
            docker_config: p("DOCKER_CONFIG"),
            home: p("HOME"),
            path: std::env::var_os("PATH"),
        }
    }

    /// The files consulted when no auth file is named explicitly.
    fn default_files(&self) -> Vec<PathBuf> {
        if let Some(f) = &self.registry_auth_file {
            return vec![f.clone()];
        }
        let mut v = Vec::new();
        if let Some(d) = &self.xdg_runtime_dir {
            v.push(d.join("containers/auth.json"));
        }
        match (&self.xdg_config_home, &self.home) {
            (Some(c), _) => v.push(c.join("containers/auth.json")),
            (None, Some(h)) => v.push(h.join(".config/containers/auth.json")),
            (None, None) => {}
        }
        match (&self.docker_config, &self.home) {
            (Some(d), _) => v.push(d.join("config.json")),
            (None, Some(h)) => v.push(h.join(".docker/config.json")),
            (None, None) => {}
        }
        v
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The credentials for `registry`/`repository`.
pub(crate) fn credentials_for(
    registry: &str,
    repository: &str,
    authfile: Option<&Path>,
    env: &AuthEnv,
) -> Result<Credentials, Error> {
    let (files, must_exist) = match authfile {
        Some(f) => (vec![f.to_path_buf()], true),
        None => (env.default_files(), env.registry_auth_file.is_some()),
    };
    for file in files {
        let text = match std::fs::read(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => continue,
            Err(source) => return Err(Error::Io { path: file, source }),
        };
        let parsed: AuthFile = serde_json::from_slice(&text)
            .map_err(|e| Error::InvalidAuthFile { path: file.clone(), reason: e.to_string() })?;
        if let Some(c) = lookup(&parsed, &file, registry, repository, env)? {
            return Ok(c);
        }
    }
    Ok(Credentials::Anonymous)
}

/// Registry names that mean the same host: Docker Hub has three spellings.
fn host_aliases(registry: &str) -> Vec<&str> {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            vec!["docker.io", "index.docker.io", "registry-1.docker.io"]
        }
        r => vec![r],
    }
}

/// `https://index.docker.io/v1/` and `index.docker.io` name the same key.
fn normalize_key(key: &str) -> &str {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let k = k.strip_suffix('/').unwrap_or(k);
    k.strip_suffix("/v1").or_else(|| k.strip_suffix("/v2")).unwrap_or(k)
}

fn lookup(
    file: &AuthFile,
    path: &Path,
    registry: &str,
    repository: &str,
    env: &AuthEnv,
) -> Result<Option<Credentials>, Error> {
    let aliases = host_aliases(registry);
    if let Some(helper) =
        file.cred_helpers.iter().find(|(k, _)| aliases.contains(&normalize_key(k))).map(|(_, v)| v)
    {
        return run_helper(helper, registry, env).map(Some);
    }
    // Most specific first: host/a/b/c, host/a/b, host/a, host.
    let mut candidates = Vec::new();
    for host in &aliases {
        let parts: Vec<&str> = repository.split('/').collect();
        for n in (0..=parts.len()).rev() {
            let mut key = (*host).to_owned();
            for p in &parts[..n] {
                key.push('/');
                key.push_str(p);
            }
            candidates.push(key);
        }
    }
    for want in &candidates {
        for (k, entry) in &file.auths {
            if normalize_key(k) != want {
                continue;
            }
            if let Some(c) = entry_credentials(entry, path, k)? {
                return Ok(Some(c));
            }
        }
    }
    match &file.creds_store {
        Some(store) if !store.is_empty() => run_helper(store, registry, env).map(Some),
        _ => Ok(None),
    }
}

fn entry_credentials(entry: &AuthEntry, path: &Path, key: &str) -> Result<Option<Credentials>, Error> {
    let invalid = |reason: String| Error::InvalidAuthFile { path: path.to_path_buf(), reason };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = STANDARD
            .decode(auth.trim())
            .map_err(|e| invalid(format!("auth for {key:?} is not base64: {e}")))?;
        let text =
            String::from_utf8(decoded).map_err(|_| invalid(format!("auth for {key:?} is not UTF-8")))?;
        let (username, password) =
            text.split_once(':').ok_or_else(|| invalid(format!("auth for {key:?} is not USER:PASSWORD")))?;
        return Ok(Some(Credentials::Basic { username: username.to_owned(), password: password.to_owned() }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => {
            Ok(Some(Credentials::Basic { username: u.clone(), password: p.clone() }))
        }
        _ => Ok(None),
    }
}

#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Runs `docker-credential-<name> get` with the registry on stdin, as the
/// docker-credential-helpers protocol specifies.
fn run_helper(name: &str, registry: &str, env: &AuthEnv) -> Result<Credentials, Error> {
    let fail = |reason: String| Error::CredentialHelper {
        helper: name.to_owned(),
        registry: registry.to_owned(),
        reason,
    };
    // The name becomes part of a file name; refuse anything that could
    // leave the PATH directories.
    if name.is_empty()
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        || name.starts_with('.')
    {
        return Err(fail("invalid helper name".into()));
    }
    let exe = format!("docker-credential-{name}");
    let found = env
        .path
        .as_ref()
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(&exe))
        .find(|p| p.is_file())
        .ok_or_else(|| fail(format!("{exe} not found in PATH")))?;
    let mut child = Command::new(&found)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let server = if host_aliases(registry).contains(&"docker.io") {
        // Docker Hub credentials are stored under its v1 index URL.
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(server.as_bytes()).map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // The protocol's answer for "no entry" is not an error for us.
        if msg.contains("credentials not found") {
            return Ok(Credentials::Anonymous);
        }
        return Err(fail(format!("exited with {}: {msg}", out.status)));
    }
    let parsed: HelperOutput =
        serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("invalid output: {e}")))?;
    Ok(Credentials::Basic { username: parsed.username, password: parsed.secret })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn basic(u: &str, p: &str) -> Credentials {
        Credentials::Basic { username: u.into(), password: p.into() }
    }

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn explicit_file_like_a_cluster_pull_secret() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pull-secret.json");
        std::fs::write(
            &f,
            format!(
                r#"{{"auths":{{"registry.redhat.io":{{"auth":"{}","email":"x@y"}},
                   "quay.io/org":{{"auth":"{}"}},"quay.io":{{"auth":"{}"}}}}}}"#,
                b64("rh:secret:with:colons"),
                b64("org:o"),
                b64("q:q")
            ),
        )
        .unwrap();
        let env = AuthEnv::default();
        assert_eq!(
            credentials_for("registry.redhat.io", "a/b", Some(&f), &env).unwrap(),
            basic("rh", "secret:with:colons")
        );
        assert_eq!(credentials_for("quay.io", "org/img", Some(&f), &env).unwrap(), basic("org", "o"));
        assert_eq!(credentials_for("quay.io", "other/img", Some(&f), &env).unwrap(), basic("q", "q"));
        assert_eq!(credentials_for("example.com", "x", Some(&f), &env).unwrap(), Credentials::Anonymous);
        // An explicit file that does not exist is an error, not anonymous.
        assert!(matches!(
            credentials_for("quay.io", "x", Some(&dir.path().join("missing")), &env),
            Err(Error::Io { .. })
        ));
        std::fs::write(&f, r#"{"auths":{"quay.io":{"auth":"!!"}}}"#).unwrap();
        assert!(matches!(
            credentials_for("quay.io", "x", Some(&f), &env),
            Err(Error::InvalidAuthFile { .. })
        ));
    }

    #[test]
    fn default_locations_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let home = dir.path().join("home");
        std::fs::create_dir_all(run.join("containers")).unwrap();
        std::fs::create_dir_all(home.join(".docker")).unwrap();
        std::fs::write(
            home.join(".docker/config.json"),
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"r.io":{{"auth":"{}"}}}}}}"#,
                b64("hub:h"),
                b64("docker:d")
            ),
        )
        .unwrap();
        let env =
            AuthEnv { xdg_runtime_dir: Some(run.clone()), home: Some(home.clone()), ..Default::default() };
        assert_eq!(credentials_for("docker.io", "library/busybox", None, &env).unwrap(), basic("hub", "h"));
        assert_eq!(credentials_for("r.io", "x", None, &env).unwrap(), basic("docker", "d"));
        // The runtime file comes first.
        std::fs::write(
            run.join("containers/auth.json"),
            format!(r#"{{"auths":{{"r.io":{{"auth":"{}"}}}}}}"#, b64("podman:p")),
        )
        .unwrap();
        assert_eq!(credentials_for("r.io", "x", None, &env).unwrap(), basic("podman", "p"));
        // REGISTRY_AUTH_FILE replaces all of them.
        let only = dir.path().join("only.json");
        std::fs::write(&only, "{}").unwrap();
        let env2 = AuthEnv { registry_auth_file: Some(only), ..env };
        assert_eq!(credentials_for("r.io", "x", None, &env2).unwrap(), Credentials::Anonymous);
    }

    #[test]
    fn credential_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helper = bin.join("docker-credential-fake");
        // Answers for r.io only, like a real helper's keychain.
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = r.io ]; then\n  echo '{\"ServerURL\":\"r.io\",\"Username\":\"helper\",\"Secret\":\"s3\"}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(&cfg, r#"{"credHelpers":{"r.io":"fake"},"credsStore":"fake"}"#).unwrap();
        let env = AuthEnv { path: Some(bin.into_os_string()), ..Default::default() };
        assert_eq!(credentials_for("r.io", "x", Some(&cfg), &env).unwrap(), basic("helper", "s3"));
        assert_eq!(credentials_for("other.io", "x", Some(&cfg), &env).unwrap(), Credentials::Anonymous);
        std::fs::write(&cfg, r#"{"credHelpers":{"r.io":"../evil"}}"#).unwrap();
        assert!(matches!(
            credentials_for("r.io", "x", Some(&cfg), &env),
            Err(Error::CredentialHelper { .. })
        ));
        std::fs::write(&cfg, r#"{"credHelpers":{"r.io":"missing"}}"#).unwrap();
        assert!(matches!(
            credentials_for("r.io", "x", Some(&cfg), &env),
            Err(Error::CredentialHelper { .. })
        ));
    }
}
