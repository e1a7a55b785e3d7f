//! `rvkit bundle`: the walkthrough's objects, rendered from one
//! configuration. Parity with the walkthrough's own heredocs run by bash,
//! schema validation, determinism, the two-phase cert-manager flow, output
//! directory safety, and `bundle check` catching single edits.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::seed;
use crate::util::{
    EXPIRATION, WALKTHROUGH_TOOLS, bash, fails, have_tools, in_ci, ok, openssl_cert, python3, rvkit_in,
    services_required, tempdir,
};

/// The programs the walkthrough's shell steps use.
const TOOLS: &[&str] = WALKTHROUGH_TOOLS;

/// One set of walkthrough inputs.
struct Case {
    domain: &'static str,
    namespace: &'static str,
    route: &'static str,
    org: &'static str,
    cn: &'static str,
    scope: &'static str,
    signature: (&'static str, &'static str),
    policy: (&'static str, &'static str),
}

/// The walkthrough's own values, then others it was never run with.
const CASES: &[Case] = &[
    Case {
        domain: "apps.rs01nyk5.eastus.aroapp.io",
        namespace: "trustee-operator-system",
        route: "kbs-service",
        org: "my_org",
        cn: "kbs-trustee-operator-system",
        scope: "quay.io/confidential-devhub/signed",
        signature: ("conf-devhub-signature", "pub-key"),
        policy: ("trustee-image-policy", "policy"),
    },
    Case {
        domain: "apps.cluster-8x2q.westeurope.example.net",
        namespace: "trustee",
        route: "kbs",
        org: "Example Corp",
        cn: "kbs.example",
        scope: "registry.example.net:5000/team/app",
        signature: ("team-signing-key", "cosign.pub"),
        policy: ("image-policy", "policy.json"),
    },
    Case {
        domain: "c0c0.test",
        namespace: "kbs-1",
        route: "r",
        org: "acme",
        cn: "c",
        scope: "ghcr.io",
        signature: ("k", "k"),
        policy: ("p", "x"),
    },
];

/// A P-256 public key made by openssl, as cosign makes them.
fn cosign_pub(dir: &Path, name: &str) -> PathBuf {
    bash(
        dir,
        &format!(
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {name}.key 2>/dev/null\n\
             openssl pkey -in {name}.key -pubout -out {name}.pub"
        ),
    );
    dir.join(format!("{name}.pub"))
}

const MEASUREMENTS: &str = "{\"measurements\":{\"sha256\":{\
\"pcr03\":\"0x3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969\",\
\"pcr09\":\"0x0a3d3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f1900\",\
\"pcr11\":\"0x00000000000000000000000000000000000000000000000000000000000011aa\",\
\"pcr12\":\"0xffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\"}}}\n";

fn config_toml(c: &Case, keys: &str, key_file: &Path) -> String {
    format!(
        "domain = \"{}\"\nnamespace = \"{}\"\nroute_name = \"{}\"\nkeys = \"{keys}\"\n\
         [certificate]\ncommon_name = \"{}\"\norganization = \"{}\"\n\
         [image_policy]\npolicy_secret = \"{}\"\npolicy_key = \"{}\"\n\
         [[image_policy.signed]]\nscope = \"{}\"\nkey = \"{}\"\nsecret = \"{}\"\nsecret_key = \"{}\"\n\
         [reference_values]\nexpiration = \"{EXPIRATION}\"\n\
         [podvm]\nmeasurements = [\"measurements.json\"]\n",
        c.domain,
        c.namespace,
        c.route,
        c.cn,
        c.org,
        c.policy.0,
        c.policy.1,
        c.scope,
        key_file.display(),
        c.signature.0,
        c.signature.1
    )
}

fn host(c: &Case) -> String {
    format!("{}-{}.{}", c.route, c.namespace, c.domain)
}

/// Writes the configuration, the measurements and a key for `c` into `dir`;
/// returns the configuration's file name.
fn setup_case(dir: &Path, c: &Case, keys: &str) -> &'static str {
    let key = cosign_pub(dir, "cosign");
    fs::write(dir.join("measurements.json"), MEASUREMENTS).unwrap();
    fs::write(dir.join("trustee.toml"), config_toml(c, keys, &key)).unwrap();
    "trustee.toml"
}

/// The files of a bundle directory.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
        .collect()
}

/// The documents of a YAML stream (split at `---` lines).
fn yaml_docs(bytes: &[u8]) -> Vec<serde_yaml_ng::Value> {
    let text = String::from_utf8_lossy(bytes);
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line == "---" {
            docs.push(String::new());
        } else {
            let last = docs.last_mut().expect("one document at least");
            last.push_str(line);
            last.push('\n');
        }
    }
    docs.iter()
        .map(|d| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// The walkthrough's cert-manager heredoc with the YAML indentation the
/// flattening removed put back (see the seed README).
fn cert_manager_heredoc(text: &str) -> String {
    let raw = seed::block(text, "oc apply -f-<<EOF", "EOF");
    const SPEC_KEYS: &[&str] = &[
        "commonName",
        "subject",
        "dnsNames",
        "privateKey",
        "duration",
        "renewBefore",
        "secretName",
        "issuerRef",
        "selfSigned",
    ];
    let mut section = "top";
    let mut parent = "";
    let mut out = Vec::new();
    for line in raw.lines() {
        let key = line.split(':').next().unwrap_or("");
        let depth = if line == "oc apply -f-<<EOF"
            || line == "EOF"
            || line == "---"
            || line.starts_with("apiVersion:")
        {
            section = "top";
            0
        } else if section == "top" {
            if line == "metadata:" {
                section = "metadata";
            }
            0
        } else if section == "metadata" {
            if line == "spec:" {
                section = "spec";
                0
            } else {
                1
            }
        } else if line.starts_with('#') {
            1
        } else if line.starts_with("- ") {
            if parent == "dnsNames" { 1 } else { 2 }
        } else if SPEC_KEYS.contains(&key) {
            parent = key;
            1
        } else {
            if key == "organizations" {
                parent = key;
            }
            2
        };
        out.push(format!("{}{line}", "  ".repeat(depth)));
    }
    out.join("\n").replace("oc apply -f-<<EOF", "cat > issuer-and-certificates.yaml <<EOF") + "\n"
}

/// The walkthrough's TrusteeConfig heredoc with its indentation put back.
fn trusteeconfig_heredoc(text: &str) -> String {
    let raw = seed::block(text, "cat > trusteeconfig-restricted.yaml <<EOF", "EOF");
    let mut section = "top";
    let mut out = Vec::new();
    for line in raw.lines() {
        let depth = match line {
            "metadata:" | "spec:" => {
                section = line;
                0
            }
            _ if line.starts_with("cat ")
                || line == "EOF"
                || line.starts_with("apiVersion:")
                || line.starts_with("kind:") =>
            {
                0
            }
            _ if line.starts_with("app.kubernetes.io/") || line.starts_with("tlsSecretName:") => 2,
            _ if section == "metadata:" || section == "spec:" => 1,
            _ => 0,
        };
        out.push(format!("{}{line}", "  ".repeat(depth)));
    }
    out.join("\n") + "\n"
}

/// The walkthrough's `oc patch -p` operations as JSON, expanded by bash.
fn kbsconfig_patch_ops(text: &str, dir: &Path, c: &Case) -> serde_json::Value {
    let raw = seed::block(text, "-p=\"[", "]\"").replacen("-p=\"[", "P=\"[", 1);
    let script = format!(
        "SIGNATURE_SECRET_NAME={}\nPOLICY_SECRET_NAME={}\n{raw}printf '%s' \"$P\"",
        c.signature.0, c.policy.0
    );
    serde_json::from_slice(&bash(dir, &script)).expect("the walkthrough's patch is JSON")
}

#[test]
fn walkthrough_inputs_give_the_walkthrough_files() {
    if !have_tools("walkthrough_inputs_give_the_walkthrough_files", TOOLS) {
        return;
    }
    let text = seed::steps();
    for (i, c) in CASES.iter().enumerate() {
        let dir = tempdir();
        let d = dir.path();
        let config = setup_case(d, c, "cert-manager");
        let cert = openssl_cert(d, &host(c), c.org, 365);
        let out = ok(rvkit_in(
            d,
            &["bundle", "--config", config, "-o", "b", "--kbs-cert", cert.to_str().unwrap(), "--json"],
        ));
        let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(summary["complete"], true);
        assert_eq!(summary["kbs_url"], format!("https://{}", host(c)));
        let b = files(&d.join("b"));

        // verification-policy.json: the heredoc, byte for byte.
        let script = format!(
            "SECURITY_POLICY_IMAGE='{}'\nSIGNATURE_SECRET_NAME={}\nSIGNATURE_SECRET_FILE={}\n{}cat verification-policy.json",
            c.scope,
            c.signature.0,
            c.signature.1,
            seed::block(text, "cat > verification-policy.json <<EOF", "EOF")
        );
        assert_eq!(
            String::from_utf8(bash(d, &script)).unwrap(),
            String::from_utf8_lossy(&b["verification-policy.json"]),
            "case {i}"
        );

        // initdata.toml: the heredoc, byte for byte, with TRUSTEE_CERT read
        // from the certificate the way the walkthrough reads it.
        let script = format!(
            "TRUSTEE_HOST=\"https://{}\"\nTRUSTEE_CERT=$(cat '{}')\nPOLICY_SECRET_NAME={}\nPOLICY_SECRET_FILE={}\n{}cat initdata.toml",
            host(c),
            cert.display(),
            c.policy.0,
            c.policy.1,
            seed::initdata_heredoc(text)
        );
        assert_eq!(bash(d, &script), b["initdata.toml"], "case {i}");

        // The annotation and PCR8 the walkthrough's pipeline gives.
        fs::write(d.join("initdata.toml"), &b["initdata.toml"]).unwrap();
        fs::write(d.join("bundle.annotation"), &b["initdata.annotation"]).unwrap();
        assert_eq!(bash(d, "base64 -d bundle.annotation | gzip -d"), b["initdata.toml"]);
        let pcr8 = bash(d, &format!("{}echo \"$PCR8_HASH  initdata.toml\"", seed::pcr8_step(text)));
        assert_eq!(pcr8, b["pcr8.txt"], "case {i}");

        // The reference-value ConfigMap: the walkthrough's jq pipeline on the
        // same measurements and initdata, read as YAML.
        let script = format!(
            "{}JSON_DATA=$(cat measurements.json)\n{}{}",
            seed::pcr8_step(text),
            seed::jq_step(text, true),
            seed::configmap_heredoc(text)
        )
        .replace("namespace: trustee-operator-system", &format!("namespace: {}", c.namespace));
        bash(d, &script);
        assert_eq!(
            yaml_docs(&fs::read(d.join("rvps-configmap.yaml")).unwrap()),
            yaml_docs(&b["rvps-configmap.yaml"]),
            "case {i}"
        );

        // The cert-manager objects and the TrusteeConfig: the heredocs' YAML.
        let vars =
            format!("NS={}\nROUTE={}\nCN_NAME='{}'\nORG_NAME='{}'\n", c.namespace, host(c), c.cn, c.org);
        let ns = |s: String| s.replace("trustee-operator-system", "${NS}");
        bash(d, &format!("{vars}{}", ns(cert_manager_heredoc(text))));
        let theirs = yaml_docs(&fs::read(d.join("issuer-and-certificates.yaml")).unwrap());
        let ours: Vec<_> = ["issuer.yaml", "certificate-kbs-https.yaml", "certificate-kbs-token.yaml"]
            .iter()
            .flat_map(|f| yaml_docs(&b[*f]))
            .collect();
        assert_eq!(ours, theirs, "case {i}");
        bash(d, &format!("{vars}{}", ns(trusteeconfig_heredoc(text))));
        assert_eq!(
            yaml_docs(&b["trusteeconfig.yaml"]),
            yaml_docs(&fs::read(d.join("trusteeconfig-restricted.yaml")).unwrap()),
            "case {i}"
        );

        // The KbsConfig change: the walkthrough's `oc patch` operations.
        let ours: serde_json::Value =
            serde_json::to_value(yaml_docs(&b["kbsconfig-patch.yaml"]).remove(0)).unwrap();
        assert_eq!(ours, kbsconfig_patch_ops(text, d, c), "case {i}");

        // The Route `oc create route passthrough` makes, at the host the
        // walkthrough prints.
        let route = yaml_docs(&b["route.yaml"]).remove(0);
        assert_eq!(route["metadata"]["name"].as_str(), Some(c.route));
        assert_eq!(route["spec"]["host"].as_str(), Some(host(c).as_str()));
        assert_eq!(route["spec"]["tls"]["termination"].as_str(), Some("passthrough"));
        assert_eq!(route["spec"]["to"]["name"].as_str(), Some("kbs-service"));
        assert_eq!(route["spec"]["port"]["targetPort"].as_str(), Some("kbs-port"));

        // The key and policy Secrets hold the files, as `oc create secret
        // generic --from-file` stores them.
        let sig = yaml_docs(&b[&format!("secret-{}.yaml", c.signature.0)]).remove(0);
        let stored = sig["data"][c.signature.1].as_str().unwrap();
        assert_eq!(stored, String::from_utf8(bash(d, "base64 -w0 cosign.pub")).unwrap());
        let pol = yaml_docs(&b[&format!("secret-{}.yaml", c.policy.0)]).remove(0);
        fs::write(d.join("policy.b64"), pol["data"][c.policy.1].as_str().unwrap()).unwrap();
        assert_eq!(bash(d, "base64 -d policy.b64"), b["verification-policy.json"]);

        ok(rvkit_in(d, &["bundle", "check", "b"]));
    }
}

/// Runs tests/data/bundle/validate.py on a bundle and returns what it
/// printed; None (after saying why) when a schema source is not installed
/// outside CI. Any invalid object fails the test.
fn validate_schemas(test: &str, bundle: &Path) -> Option<String> {
    let probe = python3().args(["-c", "import jsonschema, kubernetes_validate, yaml"]).output();
    if let Err(why) = probe.map_err(|e| e.to_string()).and_then(|o| {
        o.status.success().then_some(()).ok_or_else(|| String::from_utf8_lossy(&o.stderr).into_owned())
    }) {
        let msg = format!(
            "{test}: needs python3 with jsonschema, kubernetes-validate and PyYAML (`cargo xtask test` installs \
             them): {why}"
        );
        assert!(!services_required(), "{msg}");
        eprintln!("skipped: {msg}");
        return None;
    }
    let schemas = schemas_dir();
    if !schemas.is_dir() {
        assert!(
            !in_ci(),
            "{test}: the trustee-operator CRDs are required in CI: {} is missing",
            schemas.display()
        );
        eprintln!("skipped: {test}: no trustee-operator CRDs at {} (set RVKIT_SCHEMAS)", schemas.display());
        return None;
    }
    let out = run_validator(bundle);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            assert!(!services_required(), "{test}: a schema source is missing:\n{stdout}{stderr}");
            eprintln!("skipped: {test}: a schema source is missing:\n{stdout}");
            return None;
        }
        _ => panic!("schema validation failed:\n{stdout}{stderr}"),
    }
    eprint!("{stdout}");
    Some(stdout)
}

/// The trustee-operator CRDs: `$RVKIT_SCHEMAS`, by default `../shared/schemas`
/// beside the repository (the README says where they come from).
fn schemas_dir() -> PathBuf {
    std::env::var_os("RVKIT_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas"))
}

/// tests/data/bundle/validate.py on `bundle`, against the trustee-operator CRDs.
fn run_validator(bundle: &Path) -> std::process::Output {
    python3()
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/bundle/validate.py"))
        .arg(bundle)
        .arg(schemas_dir())
        .output()
        .expect("python3 runs")
}

/// Asserts that the validator's output has an `ok:` line for `object`
/// against each of `sources`.
fn validated(stdout: &str, object: &str, sources: &[&str]) {
    for source in sources {
        assert!(
            stdout.lines().any(|l| l.starts_with("ok: ") && l.contains(object) && l.contains(source)),
            "{object} was not validated against {source}:\n{stdout}"
        );
    }
}

const CLUSTER: &str = "OpenShift cluster OpenAPI";
const ROUTE_SPEC: &str = "RouteSpec of the OpenShift API";
const K8S: &str = "(kubernetes-validate)";

#[test]
fn every_manifest_validates_against_its_schema() {
    const TEST: &str = "every_manifest_validates_against_its_schema";
    if !have_tools(TEST, TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[1];
    let config = setup_case(d, c, "cert-manager");
    // The first phase (no certificate yet), the second, and local mode.
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "phase1"]));
    let Some(out) = validate_schemas(TEST, &d.join("phase1")) else { return };
    let route = format!("Route/{}", c.route);
    validated(&out, &route, &[CLUSTER, ROUTE_SPEC]);
    validated(&out, "Issuer/", &[CLUSTER]);
    validated(&out, "Certificate/kbs-https", &[CLUSTER]);
    validated(&out, "Certificate/kbs-token", &[CLUSTER]);
    validated(&out, "TrusteeConfig/trusteeconfig", &["CRD confidentialcontainers.org_trusteeconfigs.yaml"]);
    // The image policy, its key Secrets and the KbsConfig patch come in the
    // second phase, with the initdata that points the guest at them.
    assert!(!out.contains("KbsConfig/") && !out.contains("Secret/"), "{out}");

    let cert = openssl_cert(d, &host(c), c.org, 365);
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "phase2", "--kbs-cert", cert.to_str().unwrap()]));
    let out = validate_schemas(TEST, &d.join("phase2")).unwrap();
    validated(&out, &route, &[CLUSTER, ROUTE_SPEC]);
    validated(&out, "Certificate/kbs-https", &[CLUSTER]);
    validated(&out, "ConfigMap/", &[K8S, CLUSTER]);
    validated(
        &out,
        "KbsConfig/trusteeconfig-kbs-config",
        &["CRD confidentialcontainers.org_kbsconfigs.yaml"],
    );
    validated(&out, "Secret/", &[K8S, CLUSTER]);

    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "local", "--keys", "local", "--format", "kv"]));
    let out = validate_schemas(TEST, &d.join("local")).unwrap();
    validated(&out, &route, &[CLUSTER, ROUTE_SPEC]);
    validated(&out, "Secret/trustee-tls-cert", &[K8S, CLUSTER]);
    validated(&out, "Secret/trustee-token-cert", &[K8S, CLUSTER]);
    validated(&out, "ConfigMap/", &[K8S, CLUSTER]);
}

/// `oc apply -k DIR` sends what kustomize builds: kubectl's own kustomize
/// must build every bundle into exactly the objects of its files. And the
/// KbsConfig patch, uncommented as the kustomization explains for a pipeline
/// that owns the KbsConfig, must add the Secrets when kustomize applies it.
#[test]
fn kustomize_builds_every_bundle_and_applies_the_kbsconfig_patch() {
    const TEST: &str = "kustomize_builds_every_bundle_and_applies_the_kbsconfig_patch";
    if !have_tools(TEST, &["kubectl"]) || !have_tools(TEST, TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[1];
    let config = setup_case(d, c, "cert-manager");
    let cert = openssl_cert(d, &host(c), c.org, 365);
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "phase1"]));
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "phase2", "--kbs-cert", cert.to_str().unwrap()]));
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "local", "--keys", "local", "--format", "kv"]));
    let kustomize = |bundle: &Path| -> Vec<serde_yaml_ng::Value> {
        let out = Command::new("kubectl").arg("kustomize").arg(bundle).output().expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl kustomize {}: {}",
            bundle.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        yaml_docs(&out.stdout)
    };
    let key = |v: &serde_yaml_ng::Value| {
        (v["kind"].as_str().unwrap().to_owned(), v["metadata"]["name"].as_str().unwrap().to_owned())
    };
    for name in ["phase1", "phase2", "local"] {
        let bundle = d.join(name);
        let b = files(&bundle);
        let kustomization: serde_yaml_ng::Value =
            serde_yaml_ng::from_slice(&b["kustomization.yaml"]).unwrap();
        let mut want: BTreeMap<(String, String), serde_yaml_ng::Value> = BTreeMap::new();
        for file in kustomization["resources"].as_sequence().unwrap() {
            for doc in yaml_docs(&b[file.as_str().unwrap()]) {
                want.insert(key(&doc), doc);
            }
        }
        let built: BTreeMap<_, _> = kustomize(&bundle).into_iter().map(|v| (key(&v), v)).collect();
        assert_eq!(built, want, "{name}: kustomize builds other objects than the files hold");
    }

    // The pipeline that owns the KbsConfig: the operator's object as a
    // resource, and the patch entry the kustomization carries commented.
    let bundle = d.join("phase2");
    let k = fs::read_to_string(bundle.join("kustomization.yaml")).unwrap();
    let mut uncommented = String::new();
    let mut in_patches = false;
    for line in k.lines() {
        if line == "# patches:" {
            in_patches = true;
        }
        match line.strip_prefix("# ") {
            Some(rest) if in_patches => uncommented.push_str(rest),
            _ => uncommented.push_str(line),
        }
        uncommented.push('\n');
    }
    assert!(in_patches, "the kustomization carries no commented patches entry:\n{k}");
    let mut uncommented = uncommented.replace("resources:\n", "resources:\n- kbsconfig.yaml\n");
    // kubectl before 1.21 (Debian's kubernetes-client) embeds kustomize
    // v2, which knows the same entry as `patchesJson6902`.
    let version = Command::new("kubectl").args(["version", "--client"]).output().unwrap();
    if !String::from_utf8_lossy(&version.stdout).contains("Kustomize Version") {
        uncommented = uncommented.replace("\npatches:\n", "\npatchesJson6902:\n");
    }
    fs::write(bundle.join("kustomization.yaml"), uncommented).unwrap();
    fs::write(
        bundle.join("kbsconfig.yaml"),
        format!(
            "apiVersion: confidentialcontainers.org/v1alpha1\nkind: KbsConfig\nmetadata:\n  name: trusteeconfig-kbs-config\n  \
             namespace: {}\nspec:\n  kbsConfigMapName: trusteeconfig-kbs-config\n  kbsSecretResources:\n  - kbsres1\n",
            c.namespace
        ),
    )
    .unwrap();
    let kbsconfig = kustomize(&bundle).into_iter().find(|v| v["kind"].as_str() == Some("KbsConfig")).unwrap();
    let resources: Vec<&str> = kbsconfig["spec"]["kbsSecretResources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(resources, ["kbsres1", c.signature.0, c.policy.0]);
}

/// The validator is an oracle only if it can say no: single edits that the
/// API server would refuse, each reported by the source that knows the
/// field.
#[test]
fn the_schema_validator_refuses_what_the_api_server_would() {
    const TEST: &str = "the_schema_validator_refuses_what_the_api_server_would";
    if !have_tools(TEST, TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[0];
    let config = setup_case(d, c, "cert-manager");
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "good"]));
    if validate_schemas(TEST, &d.join("good")).is_none() {
        return;
    }
    // (file, text, replacement, what the validator must say)
    let edits: &[(&str, &str, &str, &[&str])] = &[
        // A misspelt field inside spec.tls: only the deep RouteSpec knows it.
        ("route.yaml", "termination: passthrough", "termnation: passthrough", &["spec: tls", ROUTE_SPEC]),
        // The port as a list.
        (
            "route.yaml",
            "targetPort: kbs-port",
            "targetPort: [kbs-port]",
            &["spec: port/targetPort", ROUTE_SPEC],
        ),
        // A field the Route does not have, one level up.
        ("route.yaml", "  wildcardPolicy: None", "  wildcard: None", &["Route/", CLUSTER]),
        // A private key algorithm cert-manager does not know.
        (
            "certificate-kbs-token.yaml",
            "algorithm: ECDSA",
            "algorithm: DSA",
            &["spec/privateKey/algorithm", CLUSTER],
        ),
        // The Issuer with an unknown issuer type.
        ("issuer.yaml", "selfSigned: {}", "selfSignedd: {}", &["Issuer/", CLUSTER]),
        // A TrusteeConfig field the operator's CRD does not have.
        ("trusteeconfig.yaml", "  profileType:", "  profile:", &["TrusteeConfig/", "CRD"]),
    ];
    for (file, from, to, expect) in edits {
        let bad = d.join("bad");
        let _ = fs::remove_dir_all(&bad);
        fs::create_dir(&bad).unwrap();
        for (name, bytes) in files(&d.join("good")) {
            fs::write(bad.join(name), bytes).unwrap();
        }
        let text = fs::read_to_string(bad.join(file)).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}:\n{text}");
        fs::write(bad.join(file), text.replacen(from, to, 1)).unwrap();
        let out = run_validator(&bad);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{file}: {from:?} -> {to:?} was accepted:\n{stdout}");
        assert!(
            stdout.lines().any(|l| l.starts_with("INVALID: ") && expect.iter().all(|e| l.contains(e))),
            "{file}: {from:?} -> {to:?}: no INVALID line with {expect:?}:\n{stdout}"
        );
    }
}

#[test]
fn local_mode_writes_tls_secrets_with_private_modes_and_never_prints_keys() {
    if !have_tools("local_mode_writes_tls_secrets_with_private_modes_and_never_prints_keys", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[0];
    let config = setup_case(d, c, "local");
    let out = rvkit_in(d, &["bundle", "--config", config, "-o", "b", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = ok(out);
    let b = files(&d.join("b"));
    for (name, bytes) in &b {
        let mode = fs::metadata(d.join("b").join(name)).unwrap().permissions().mode() & 0o777;
        let secret_key = name == "secret-trustee-tls-cert.yaml" || name == "secret-trustee-token-cert.yaml";
        assert_eq!(mode, if secret_key { 0o600 } else { 0o644 }, "{name}");
        if !secret_key {
            assert!(!String::from_utf8_lossy(bytes).contains("tls.key"), "{name} holds a key");
        }
    }
    for (secret, want) in [("trustee-tls-cert", "rsa"), ("trustee-token-cert", "ec")] {
        let doc = yaml_docs(&b[&format!("secret-{secret}.yaml")]).remove(0);
        assert_eq!(doc["type"].as_str(), Some("kubernetes.io/tls"));
        let key_b64 = doc["data"]["tls.key"].as_str().unwrap();
        assert!(!stdout.contains(key_b64) && !stderr.contains(key_b64));
        fs::write(d.join("crt.b64"), doc["data"]["tls.crt"].as_str().unwrap()).unwrap();
        fs::write(d.join("key.b64"), key_b64).unwrap();
        // openssl: the key belongs to the certificate and has the right type.
        let pubs = bash(
            d,
            "base64 -d crt.b64 | openssl x509 -noout -pubkey > a.pub\n\
             base64 -d key.b64 | openssl pkey -pubout > b.pub\ncmp a.pub b.pub && echo same",
        );
        assert_eq!(pubs, b"same\n", "{secret}");
        let text = String::from_utf8(bash(d, "base64 -d crt.b64 | openssl x509 -noout -text")).unwrap();
        match want {
            "rsa" => {
                assert!(text.contains("(2048 bit)") && text.contains(&format!("DNS:{}", host(c))), "{text}");
                assert!(
                    bash(d, "base64 -d key.b64 | head -1").starts_with(b"-----BEGIN RSA PRIVATE KEY-----")
                );
            }
            _ => {
                assert!(text.contains("prime256v1") && text.contains("DNS:kbs-service"), "{text}");
                assert!(bash(d, "base64 -d key.b64 | head -1").starts_with(b"-----BEGIN PRIVATE KEY-----"));
            }
        }
    }
    // The initdata trusts the generated certificate.
    let initdata = String::from_utf8_lossy(&b["initdata.toml"]).into_owned();
    assert!(initdata.contains(String::from_utf8_lossy(&b["kbs-https.crt"]).trim_end()));
    assert!(!b.contains_key("issuer.yaml"));
    ok(rvkit_in(d, &["bundle", "check", "b"]));
}

#[test]
fn rendering_is_deterministic() {
    if !have_tools("rendering_is_deterministic", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[2];
    let config = setup_case(d, c, "cert-manager");
    let cert = openssl_cert(d, &host(c), c.org, 365);
    let cert = cert.to_str().unwrap();
    for out in ["a", "b"] {
        ok(rvkit_in(d, &["bundle", "--config", config, "-o", out, "--kbs-cert", cert]));
    }
    assert_eq!(files(&d.join("a")), files(&d.join("b")));
    // Local mode: everything but the keys and what embeds the certificate.
    for out in ["la", "lb"] {
        ok(rvkit_in(d, &["bundle", "--config", config, "-o", out, "--keys", "local"]));
    }
    let (la, lb) = (files(&d.join("la")), files(&d.join("lb")));
    assert_eq!(la.keys().collect::<Vec<_>>(), lb.keys().collect::<Vec<_>>());
    for name in [
        "kustomization.yaml",
        "trusteeconfig.yaml",
        "route.yaml",
        "verification-policy.json",
        "kbsconfig-patch.yaml",
        ".rvkit-bundle",
    ] {
        assert_eq!(la[name], lb[name], "{name}");
    }
    assert_ne!(
        la["secret-trustee-tls-cert.yaml"], lb["secret-trustee-tls-cert.yaml"],
        "fresh keys every time"
    );
}

/// Local mode keeps the keys of the bundle it re-renders while they still
/// fit the configuration, so the KBS certificate, initdata and PCR8 do not
/// change under a GitOps pipeline that renders again; anything that would
/// make `generate` give another certificate makes new keys, and says why.
#[test]
fn local_mode_keeps_fitting_keys_across_renders() {
    const TEST: &str = "local_mode_keeps_fitting_keys_across_renders";
    if !have_tools(TEST, TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[2];
    let config = setup_case(d, c, "local");
    let render = |extra: &[&str]| {
        let mut args = vec!["bundle", "--config", config, "-o", "b"];
        args.extend_from_slice(extra);
        let out = rvkit_in(d, &args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        ok(out);
        (files(&d.join("b")), stderr)
    };
    let (first, _) = render(&[]);
    let (again, stderr) = render(&[]);
    assert!(stderr.contains("kept the keys of b"), "{stderr}");
    assert_eq!(first, again, "a second render in place is byte-identical");
    ok(rvkit_in(d, &["bundle", "check", "b"]));

    let (rotated, stderr) = render(&["--new-keys"]);
    assert!(!stderr.contains("kept the keys"), "{stderr}");
    for name in
        ["secret-trustee-tls-cert.yaml", "secret-trustee-token-cert.yaml", "initdata.toml", "pcr8.txt"]
    {
        assert_ne!(first[name], rotated[name], "--new-keys: {name}");
    }
    ok(rvkit_in(d, &["bundle", "check", "b"]));

    // Each of these makes `generate` give another certificate. (Keys close
    // to expiry are renewed too: a unit test in rvkit-trustee's keys.rs.)
    let changes: &[(&[&str], &str)] = &[
        (&["--domain", "apps.elsewhere.example"], "not DNS:r-kbs-1.apps.elsewhere.example"),
        (&["--common-name", "another-cn"], "subject is not the configured one"),
        (&["--organization", "Another Org"], "subject is not the configured one"),
        (&["--duration", "4380h"], "lifetime is not 4380h"),
    ];
    for (flags, why) in changes {
        render(&[]); // back to the configured keys
        let before = files(&d.join("b"));
        let (after, stderr) = render(flags);
        assert!(stderr.contains("making new keys: ") && stderr.contains(why), "{flags:?}: {stderr}");
        assert_ne!(
            before["secret-trustee-tls-cert.yaml"], after["secret-trustee-tls-cert.yaml"],
            "{flags:?}"
        );
        ok(rvkit_in(d, &["bundle", "check", "b"]));
    }

    // Keys that were tampered with are not kept: the token Secret given the
    // TLS Secret's key.
    render(&[]);
    let tls = String::from_utf8(fs::read(d.join("b/secret-trustee-tls-cert.yaml")).unwrap()).unwrap();
    let tls_key = tls.lines().find(|l| l.contains("tls.key:")).unwrap();
    let token = String::from_utf8(fs::read(d.join("b/secret-trustee-token-cert.yaml")).unwrap()).unwrap();
    let token_key = token.lines().find(|l| l.contains("tls.key:")).unwrap();
    fs::write(d.join("b/secret-trustee-token-cert.yaml"), token.replace(token_key, tls_key)).unwrap();
    let (_, stderr) = render(&[]);
    assert!(
        stderr.contains("making new keys: the kbs-token key does not belong to its certificate"),
        "{stderr}"
    );
    ok(rvkit_in(d, &["bundle", "check", "b"]));

    // A fresh directory gets fresh keys; --new-keys is refused outside local mode.
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "other"]));
    assert_ne!(
        files(&d.join("other"))["secret-trustee-tls-cert.yaml"],
        files(&d.join("b"))["secret-trustee-tls-cert.yaml"]
    );
    let out =
        rvkit_in(d, &["bundle", "--config", config, "-o", "cm", "--keys", "cert-manager", "--new-keys"]);
    assert!(fails(out, 2).contains("--new-keys is for local mode"));
    assert!(!d.join("cm").exists());
}

#[test]
fn the_two_phase_cert_manager_flow() {
    if !have_tools("the_two_phase_cert_manager_flow", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[0];
    let config = setup_case(d, c, "cert-manager");
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "b"]));
    let phase1 = files(&d.join("b"));
    assert!(!phase1.contains_key("initdata.toml") && !phase1.contains_key("rvps-configmap.yaml"));
    assert!(String::from_utf8_lossy(&phase1["NEXT-STEPS.md"]).contains("--kbs-cert-from-secret"));
    let check = rvkit_in(d, &["bundle", "check", "b"]);
    assert!(String::from_utf8_lossy(&check.stderr).contains("no initdata yet"));
    ok(check);

    // The Secret as `oc get secret -o yaml` shows it once cert-manager issued it.
    let cert = openssl_cert(d, &host(c), c.org, 365);
    bash(
        d,
        &format!(
            "printf 'apiVersion: v1\\nkind: Secret\\nmetadata:\\n  name: trustee-tls-cert\\n  namespace: {}\\n\
             type: kubernetes.io/tls\\ndata:\\n  ca.crt: %s\\n  tls.crt: %s\\n  tls.key: %s\\n' \
             \"$(base64 -w0 '{cert}')\" \"$(base64 -w0 '{cert}')\" \"$(base64 -w0 '{key}')\" > issued.yaml",
            c.namespace,
            cert = cert.display(),
            key = cert.with_extension("key").display()
        ),
    );
    // Completing the bundle in place needs no --force: every file is rvkit's.
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "b", "--kbs-cert-from-secret", "issued.yaml"]));
    let phase2 = files(&d.join("b"));
    for f in [
        "initdata.toml",
        "initdata.annotation",
        "pcr8.txt",
        "rvps-configmap.yaml",
        "kbs-https.crt",
        "peer-pods-cm-initdata.yaml",
    ] {
        assert!(phase2.contains_key(f), "{f}");
    }
    assert_eq!(phase2["kbs-https.crt"], fs::read(&cert).unwrap());
    assert!(
        String::from_utf8_lossy(&phase2["NEXT-STEPS.md"])
            .contains("oc rollout restart deployment/trustee-deployment")
    );
    ok(rvkit_in(d, &["bundle", "check", "b"]));

    // Rendering the first phase again removes what only the second had.
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "b"]));
    assert_eq!(files(&d.join("b")), phase1);

    // A certificate for another host fails verification (exit 1).
    let other = openssl_cert(d, "other.example.com", c.org, 365);
    let stderr = fails(
        rvkit_in(d, &["bundle", "--config", config, "-o", "b", "--kbs-cert", other.to_str().unwrap()]),
        1,
    );
    assert!(stderr.contains("does not name the KBS host"), "{stderr}");
    assert_eq!(files(&d.join("b")), phase1);
}

#[test]
fn variants_are_rendered_and_all_their_pcr8_values_allowed() {
    if !have_tools("variants_are_rendered_and_all_their_pcr8_values_allowed", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[0];
    let config = setup_case(d, c, "local");
    // A file name with a comma, quoted as in CSV.
    fs::write(d.join("debug,v2.rego"), "package agent_policy\ndefault ExecProcessRequest := true\n").unwrap();
    ok(rvkit_in(
        d,
        &[
            "bundle",
            "--config",
            config,
            "-o",
            "b",
            "--variant",
            r#"name=debug,"agent_policy=debug,v2.rego""#,
            "--dummy-initdata",
        ],
    ));
    let b = files(&d.join("b"));
    let pcr8 = String::from_utf8_lossy(&b["pcr8.txt"]).into_owned();
    assert_eq!(pcr8.lines().count(), 2, "{pcr8}");
    let rv = String::from_utf8_lossy(&b["rvps-configmap.yaml"]).into_owned();
    for line in pcr8.lines() {
        let hex = line.split_whitespace().next().unwrap();
        assert_eq!(rv.matches(hex).count(), 2, "snp_pcr08 and tdx_pcr08 allow {line}");
    }
    assert!(rv.contains(rvkit_initdata::DUMMY_PCR8_HEX));
    assert!(String::from_utf8_lossy(&b["initdata-debug.toml"]).contains("ExecProcessRequest := true"));
    fs::write(d.join("debug.annotation"), &b["initdata-debug.annotation"]).unwrap();
    assert_eq!(bash(d, "base64 -d debug.annotation | gzip -d"), b["initdata-debug.toml"]);

    // A variant document that points at another KBS is refused before
    // anything is written: it was read and fails validation (exit 1, as
    // `initdata check` gives for it).
    let other = String::from_utf8_lossy(&b["initdata.toml"]).replace(&host(c), "evil.example.com");
    fs::write(d.join("other.toml"), other).unwrap();
    let stderr = fails(
        rvkit_in(
            d,
            &["bundle", "--config", config, "-o", "c", "--variant", "name=other,document=other.toml"],
        ),
        1,
    );
    assert!(stderr.contains("initdata-other.toml") && stderr.contains("evil.example.com"), "{stderr}");
    assert!(!d.join("c").exists());
}

/// Runs a command that must fail with exit 2 naming `needle`, and must not
/// create or change the output directory.
#[track_caller]
fn refused(d: &Path, args: &[&str], needle: &str) {
    let before = if d.join("out").exists() { Some(files(&d.join("out"))) } else { None };
    let mut full = vec!["bundle"];
    full.extend_from_slice(args);
    full.extend(["-o", "out"]);
    let stderr = fails(rvkit_in(d, &full), 2);
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
    let after = if d.join("out").exists() { Some(files(&d.join("out"))) } else { None };
    assert_eq!(before, after, "a refused render changed the output directory");
    let leftovers: Vec<_> = fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(".rvkit") || name.ends_with(".rvkit-lock")
        })
        .collect();
    assert!(leftovers.is_empty(), "staging directory or lock file left behind: {leftovers:?}");
}

#[test]
fn bad_configurations_exit_2_and_write_nothing() {
    if !have_tools("bad_configurations_exit_2_and_write_nothing", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[0];
    let config = setup_case(d, c, "local");
    let base = fs::read_to_string(d.join(config)).unwrap();
    let with = |name: &str, text: String| {
        fs::write(d.join(name), text).unwrap();
        name.to_owned()
    };
    let unknown = with("unknown.toml", format!("{base}\n[podvm.extra]\nx = 1\n"));
    refused(d, &["--config", &unknown], "unknown field");
    let typo = with("typo.toml", base.replace("organization", "organisation"));
    refused(d, &["--config", &typo], "unknown field `organisation`");
    let missing_key = with("missing.toml", base.replace("cosign.pub", "nope.pub"));
    refused(d, &["--config", &missing_key], "nope.pub");
    refused(d, &["--config", config, "--domain", "Apps.Example.com"], "lowercase");
    refused(d, &["--config", config, "--kbs-host", "https://kbs.example.com"], "without scheme");
    let bad_host = with("host.toml", base.replace(c.domain, "apps_example.com"));
    refused(d, &["--config", &bad_host], "host name");
    let bad_secret = with("secret.toml", base.replace("conf-devhub-signature", "Conf_Devhub"));
    refused(d, &["--config", &bad_secret], "object name \"Conf_Devhub\" is invalid");
    refused(d, &["--config", config, "--tls-secret", "tls.secret!"], "tls.secret!");
    // A past expiration, refused in the first cert-manager phase too (which writes no reference values).
    refused(
        d,
        &["--config", config, "--keys", "cert-manager", "--expiration", "2020-01-01T00:00:00Z"],
        "reference_values.expiration (--expiration) is 2020-01-01T00:00:00Z, which is not in the future",
    );
    bash(
        d,
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl pkey -pubout > weak.pub",
    );
    refused(
        d,
        &["--config", config, "--signed-image", "scope=quay.io/x,key=weak.pub,secret=weak"],
        "unsupported key type: RSA with 1024 bits",
    );
    bash(d, "openssl ecparam -name secp256k1 -genkey 2>/dev/null | openssl pkey -pubout > k1.pub");
    refused(
        d,
        &["--config", config, "--signed-image", "scope=quay.io/x,key=k1.pub,secret=k1"],
        "unsupported key type",
    );
    refused(
        d,
        &["--config", config, "--signed-image", "scope=quay.io/x,key=cosign.key,secret=k"],
        "PRIVATE key",
    );
    refused(d, &["--config", config, "--expiration", "2020-01-01T00:00:00Z"], "not in the future");
    refused(d, &["--config", config, "--measurements", "nope.json"], "nope.json");
    let stderr = fails(rvkit_in(d, &["bundle", "--config", config]), 2);
    assert!(stderr.contains("-o DIR"), "{stderr}");
    assert!(!d.join("out").exists());

    // A directory with someone else's files is refused unless --force, and
    // --force leaves those files alone.
    fs::create_dir(d.join("out")).unwrap();
    fs::write(d.join("out/notes.txt"), "mine\n").unwrap();
    refused(d, &["--config", config], "did not write (notes.txt)");
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "out", "--force"]));
    assert_eq!(fs::read_to_string(d.join("out/notes.txt")).unwrap(), "mine\n");
    ok(rvkit_in(d, &["bundle", "check", "out"]));
}

#[test]
fn init_writes_the_walkthrough_configuration() {
    let dir = tempdir();
    let d = dir.path();
    let text = ok(rvkit_in(d, &["bundle", "--init"]));
    assert!(text.contains("domain = \"apps.my-cluster.example\""));
    assert!(text.contains("# expiration = "), "the expiration is left to its default");
    assert!(text.contains("secret = \"conf-devhub-signature\""));
    ok(rvkit_in(d, &["bundle", "--init", "-o", "trustee.toml"]));
    assert_eq!(fs::read_to_string(d.join("trustee.toml")).unwrap(), text);
    let stderr = fails(rvkit_in(d, &["bundle", "--init", "-o", "trustee.toml"]), 2);
    assert!(stderr.contains("--force"), "{stderr}");
    ok(rvkit_in(d, &["bundle", "--init", "-o", "trustee.toml", "--force"]));
    // The template renders once its files exist (here with measurements instead of images).
    if !have_tools("init_writes_the_walkthrough_configuration", TOOLS) {
        return;
    }
    cosign_pub(d, "cosign");
    fs::write(d.join("m.json"), MEASUREMENTS).unwrap();
    ok(rvkit_in(
        d,
        &[
            "bundle",
            "--config",
            "trustee.toml",
            "--image=",
            "--measurements",
            "m.json",
            "--keys",
            "local",
            "-o",
            "b",
        ],
    ));
    ok(rvkit_in(d, &["bundle", "check", "b"]));
}

/// Runs rvkit in `dir` and returns its exit code and stderr, asserting that
/// it printed nothing on stdout.
#[track_caller]
fn stderr_of(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = rvkit_in(dir, args);
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A stand-in registry on loopback that counts the connections made to it
/// and closes each at once; stopped on drop.
struct CountingListener {
    port: u16,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CountingListener {
    fn start() -> CountingListener {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (count, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (seen, stopped) = (count.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                seen.fetch_add(1, Ordering::SeqCst);
                drop(conn);
            }
        });
        CountingListener { port, count, stop, thread: Some(thread) }
    }

    fn connections(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for CountingListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // One last connection wakes the accepting thread so that it sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const PLACEHOLDER_WARNING: &str = "warning: domain apps.my-cluster.example is under the reserved .example \
domain, a placeholder no guest can reach; set domain (--domain) to your cluster's ingress domain \
(oc get ingress.config/cluster -o jsonpath='{.spec.domain}') or kbs_host (--kbs-host) to the KBS host\n";

/// README's journey, `bundle --init` then `bundle --config`, in an empty
/// directory: one run names every file it cannot read (with its field and
/// flag); the first cert-manager phase renders with nothing beside the
/// template, contacts no registry, and warns about the placeholder domain; `-q`
/// silences warnings and notes but never an error; `-v` names every file
/// read and written.
#[test]
fn the_readme_init_then_render_journey() {
    if !have_tools("the_readme_init_then_render_journey", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let (code, stderr) = stderr_of(d, &["bundle", "--init", "-o", "trustee.toml"]);
    assert_eq!(
        (code, stderr.as_str()),
        (Some(0), "wrote trustee.toml; edit it, then: rvkit bundle --config trustee.toml -o DIR\n")
    );
    let render = ["bundle", "--config", "trustee.toml", "-o", "trustee-bundle"];

    // A complete render needs every file the template names: all in one run.
    let local = [&render[..], &["--keys", "local"]].concat();
    let missing = "error: 4 input files cannot be read:\n  \
        ./cosign.pub (image_policy.signed.key, --signed-image): No such file or directory (os error 2)\n  \
        ./cosign-pub-key.pem (podvm.key, --key): No such file or directory (os error 2)\n  \
        ./rekor.pub (podvm.rekor_key, --rekor-key): No such file or directory (os error 2)\n  \
        ./cluster-pull-secret.json (podvm.authfile, --authfile): No such file or directory (os error 2)\n";
    assert_eq!(stderr_of(d, &local), (Some(2), missing.to_owned()));
    assert_eq!(stderr_of(d, &[&["-q"][..], &local].concat()), (Some(2), missing.to_owned()));
    assert!(!d.join("trustee-bundle").exists());

    // Nothing beside the template: the first phase reads no file and
    // renders as it is, naming what the second run will read.
    let first_phase_notes = "\
note: the second run also reads ./cosign.pub (image_policy.signed.key, --signed-image), which is not there yet
note: the second run also reads ./cosign-pub-key.pem (podvm.key, --key), which is not there yet
note: the second run also reads ./rekor.pub (podvm.rekor_key, --rekor-key), which is not there yet
note: the second run also reads ./cluster-pull-secret.json (podvm.authfile, --authfile), which is not there yet
";
    let written = "wrote 8 files to trustee-bundle\n\
        note: cert-manager issues the KBS certificate only once these objects are applied; initdata and \
        reference values follow in a second run (see trustee-bundle/NEXT-STEPS.md)\n";
    assert_eq!(
        stderr_of(d, &render),
        (Some(0), format!("{first_phase_notes}{PLACEHOLDER_WARNING}{written}"))
    );
    ok(rvkit_in(d, &["bundle", "check", "trustee-bundle"]));
    assert_eq!(stderr_of(d, &[&["-q"][..], &render].concat()), (Some(0), String::new()));
    let (code, verbose) = stderr_of(d, &[&render[..], &["--verbose"]].concat());
    let manifest = fs::read_to_string(d.join("trustee-bundle/.rvkit-bundle")).unwrap();
    let wrote: String = manifest
        .lines()
        .filter(|l| !l.starts_with('#'))
        .chain([".rvkit-bundle"])
        .map(|f| format!("wrote trustee-bundle/{f}\n"))
        .collect();
    assert_eq!(
        (code, verbose),
        (Some(0), format!("{first_phase_notes}{PLACEHOLDER_WARNING}{wrote}{written}"))
    );
    let (code, stderr) = stderr_of(d, &["-q", "-v", "bundle", "check", "trustee-bundle"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("'--quiet' cannot be used with '--verbose'"), "{stderr}");

    // The first phase contacts no registry even when every file is there;
    // the second does (so the listener does see a registry client).
    cosign_pub(d, "cosign");
    let registry = CountingListener::start();
    let image = format!("127.0.0.1:{}/podvm@sha256:{}", registry.port, "ab".repeat(32));
    let insecure = format!("127.0.0.1:{}", registry.port);
    cosign_pub(d, "cosign-pub-key");
    fs::rename(d.join("cosign-pub-key.pub"), d.join("cosign-pub-key.pem")).unwrap();
    cosign_pub(d, "rekor");
    fs::write(d.join("cluster-pull-secret.json"), "{\"auths\":{}}\n").unwrap();
    let elsewhere = [
        &render[..],
        &["--domain", "apps.lab.test", "--image", &image, "--insecure-registry", &insecure, "--retries", "0"],
    ]
    .concat();
    assert_eq!(stderr_of(d, &elsewhere), (Some(0), written.to_owned()));
    assert_eq!(registry.connections(), 0);
    let cert = openssl_cert(d, "kbs-service-trustee-operator-system.apps.lab.test", "my_org", 365);
    let second = [&elsewhere[..], &["--kbs-cert", cert.to_str().unwrap()]].concat();
    assert_ne!(stderr_of(d, &second).0, Some(0));
    assert!(registry.connections() > 0);
}

/// A single edit of a consistent bundle and what `bundle check` must say.
struct Edit {
    file: &'static str,
    from: &'static str,
    to: &'static str,
    expect: &'static str,
}

/// Applies `f` to the YAML file's base64 `data` entry `key`, decoded.
fn edit_secret_data(dir: &Path, file: &str, key: &str, f: impl Fn(&str) -> String) {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap();
    let prefix = format!("  {key}: ");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{file} has no {key}"));
    let b64 = line[prefix.len()..].trim_matches('"');
    use base64::Engine as _;
    let e = base64::engine::general_purpose::STANDARD;
    let decoded = String::from_utf8(e.decode(b64).unwrap()).unwrap();
    let changed = f(&decoded);
    assert_ne!(changed, decoded, "the edit of {file} {key} changed nothing");
    fs::write(&path, text.replace(line, &format!("{prefix}{}", e.encode(changed)))).unwrap();
}

#[track_caller]
fn check_finds(d: &Path, name: &str, expect: &str) {
    let stderr = fails(rvkit_in(d, &["bundle", "check", name]), 1);
    assert!(stderr.contains(expect), "{name}: expected {expect:?} in:\n{stderr}");
    assert!(
        stderr.lines().filter(|l| l.starts_with("error: ")).count() >= 2,
        "one line per finding, then a summary:\n{stderr}"
    );
}

#[test]
fn bundle_check_catches_single_edits() {
    if !have_tools("bundle_check_catches_single_edits", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[0];
    let h = host(c);
    let config = setup_case(d, c, "cert-manager");
    let cert = openssl_cert(d, &h, c.org, 365);
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "fresh", "--kbs-cert", cert.to_str().unwrap()]));
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "fresh-local", "--keys", "local"]));
    let json = ok(rvkit_in(d, &["bundle", "check", "fresh", "--json"]));
    assert!(json.contains("\"consistent\": true"), "{json}");

    let edits = [
        Edit {
            file: "secret-trustee-image-policy.yaml",
            from: "name: trustee-image-policy",
            to: "name: trustee-image-policies",
            expect: "names the Secret trustee-image-policy, which is not in the bundle",
        },
        Edit {
            file: "secret-conf-devhub-signature.yaml",
            from: "name: conf-devhub-signature",
            to: "name: conf-devhub-sig",
            expect: "kbsconfig-patch.yaml: operation 1 adds the Secret conf-devhub-signature, which is not in the bundle",
        },
        Edit {
            file: "route.yaml",
            from: "host: kbs-service-",
            to: "host: kbs-",
            expect: "but the Route host is kbs-trustee-operator-system",
        },
        Edit {
            file: "route.yaml",
            from: "termination: passthrough",
            to: "termination: edge",
            expect: "is not a passthrough route",
        },
        Edit {
            file: "route.yaml",
            from: "targetPort: kbs-port",
            to: "targetPort: http",
            expect: "does not target the port kbs-port",
        },
        Edit {
            file: "initdata.toml",
            from: "ExecProcessRequest := false",
            to: "ExecProcessRequest := true ",
            expect: "does not allow initdata.toml",
        },
        Edit {
            file: "initdata.toml",
            from: "name = \"cc_kbc\"",
            to: "name = \"cc_kbd\"",
            expect: "initdata.annotation: does not decode to initdata.toml",
        },
        Edit {
            file: "kbsconfig-patch.yaml",
            from: "  value: trustee-image-policy\n",
            to: "  value: trusteeconfig-auth-secret\n",
            expect: "does not add the Secret trustee-image-policy",
        },
        Edit {
            file: "kbsconfig-patch.yaml",
            from: "path: /spec/kbsSecretResources/-",
            to: "path: /spec/kbsSecretResources/0",
            expect: "operation 1 is not an add to /spec/kbsSecretResources/-",
        },
        Edit {
            file: "rvps-configmap.yaml",
            from: "\"expiration\": \"9027-12-12T00:00:00Z\"",
            to: "\"expiration\": \"2021-12-12T00:00:00Z\"",
            expect: "expired at 2021-12-12T00:00:00Z",
        },
        Edit {
            file: "rvps-configmap.yaml",
            from: "\"name\": \"tdx_pcr08\"",
            to: "\"name\": \"tdx_pcr07\"",
            expect: "has no tdx_pcr08 reference value",
        },
        Edit {
            file: "trusteeconfig.yaml",
            from: "tlsSecretName: trustee-tls-cert",
            to: "tlsSecretName: trustee-tls",
            expect: "names trustee-tls, but no Secret or cert-manager Certificate in the bundle provides it",
        },
        Edit {
            file: "trusteeconfig.yaml",
            from: "profileType: Restricted",
            to: "profileType: Strict",
            expect: "profileType \"Strict\" is not one of Restricted, Permissive",
        },
        Edit {
            file: "trusteeconfig.yaml",
            from: "namespace: trustee-operator-system",
            to: "namespace: trustee",
            expect: "is in namespace trustee-operator-system, the TrusteeConfig in trustee",
        },
        Edit {
            file: "certificate-kbs-https.yaml",
            from: "  - kbs-service-trustee",
            to: "  - kbs-svc-trustee",
            expect: "dnsNames do not name the Route host",
        },
        Edit {
            file: "certificate-kbs-token.yaml",
            from: "name: kbs-issuer",
            to: "name: kbs-issuer2",
            expect: "names the Issuer kbs-issuer2, which is not in the bundle",
        },
        Edit {
            file: "kustomization.yaml",
            from: "- route.yaml\n",
            to: "",
            expect: "route.yaml: is a Kubernetes object that kustomization.yaml does not list",
        },
        Edit {
            file: "kustomization.yaml",
            from: "- route.yaml\n",
            to: "- route.yaml\n- routes.yaml\n",
            expect: "lists routes.yaml, which is not in the bundle",
        },
        Edit {
            file: "issuer.yaml",
            from: "apiVersion: cert-manager.io/v1\n",
            to: "",
            expect: "issuer.yaml: is not a Kubernetes object",
        },
        Edit { file: "pcr8.txt", from: "  initdata.toml", to: "0  initdata.toml", expect: "pcr8.txt: gives" },
        Edit {
            file: "peer-pods-cm-initdata.yaml",
            from: "INITDATA: H4sI",
            to: "INITDATA: H4sJ",
            expect: "INITDATA is not initdata.annotation",
        },
        Edit {
            file: "verification-policy.json",
            from: "\"reject\"",
            to: "\"insecureAcceptAnything\"",
            expect: "differs from the policy in Secret trustee-image-policy",
        },
    ];
    for (i, e) in edits.iter().enumerate() {
        let name = format!("edit{i}");
        bash(d, &format!("cp -r fresh {name}"));
        let path = d.join(&name).join(e.file);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(e.from), "edit {i}: {} has no {:?}", e.file, e.from);
        fs::write(&path, text.replacen(e.from, e.to, 1)).unwrap();
        check_finds(d, &name, e.expect);
    }

    // Edits inside base64 Secret data and in the certificate.
    let cases: [(&str, &str, &str, &str, &str); 4] = [
        (
            "secret-trustee-image-policy.yaml",
            "policy",
            "conf-devhub-signature/pub-key",
            "conf-devhub-signature/pubkey",
            "has no key pubkey",
        ),
        (
            "secret-trustee-image-policy.yaml",
            "policy",
            "kbs:///default/conf",
            "kbs:///conf",
            "is not kbs:///default/<secret>/<key>",
        ),
        (
            "secret-conf-devhub-signature.yaml",
            "pub-key",
            "PUBLIC KEY-----\n",
            "CERTIFICATE-----\n",
            "unsupported key type",
        ),
        (
            "secret-trustee-image-policy.yaml",
            "policy",
            "\"default\"",
            "\"defaults\"",
            "has no default requirement",
        ),
    ];
    for (i, (file, key, from, to, expect)) in cases.iter().enumerate() {
        let name = format!("data{i}");
        bash(d, &format!("cp -r fresh {name}"));
        edit_secret_data(&d.join(&name), file, key, |s| s.replacen(from, to, 1));
        check_finds(d, &name, expect);
    }
    let other = openssl_cert(d, &h, "someone else", 365);
    bash(d, &format!("cp -r fresh cert && cp '{}' cert/kbs-https.crt", other.display()));
    check_finds(d, "cert", "aa.toml token_configs.kbs.cert is not the certificate of kbs-https.crt");

    // Local mode: a key that does not belong to its certificate.
    bash(d, "cp -r fresh-local swapped");
    let token = fs::read_to_string(d.join("swapped/secret-trustee-token-cert.yaml")).unwrap();
    let token_key = token.lines().find(|l| l.starts_with("  tls.key: ")).unwrap().to_owned();
    let tls_path = d.join("swapped/secret-trustee-tls-cert.yaml");
    let tls = fs::read_to_string(&tls_path).unwrap();
    let tls_key = tls.lines().find(|l| l.starts_with("  tls.key: ")).unwrap().to_owned();
    fs::write(&tls_path, tls.replace(&tls_key, &token_key)).unwrap();
    check_finds(d, "swapped", "Secret trustee-tls-cert tls.key does not belong to its tls.crt");
}

#[test]
fn podvm_images_are_verified_and_give_what_their_measurements_file_gives() {
    use rvkit_test_support::{Image, Registry, Rekor, Signer, digest_of};
    let Some(reg) = Registry::start() else { return };
    if !have_tools("podvm_images_are_verified_and_give_what_their_measurements_file_gives", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[0];
    let config = setup_case(d, c, "cert-manager");
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    fs::write(d.join("podvm-signing.pub"), &signer.public_pem).unwrap();
    fs::write(d.join("rekor.pub"), &rekor.signer.public_pem).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(reg.push_signed_image(
        "podvm/bundle",
        "v1",
        &Image::podvm("podvm/bundle"),
        &signer,
        Some(&rekor),
    ));
    let image = format!("docker://{}/podvm/bundle:v1", reg.addr);
    let cert = openssl_cert(d, &host(c), c.org, 365);
    let cert = cert.to_str().unwrap();
    let access = ["--key", "podvm-signing.pub", "--rekor-key", "rekor.pub", "--insecure-registry", &reg.addr];
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> =
            ["bundle", "--config", config, "--kbs-cert", cert].iter().map(|s| s.to_string()).collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let args = with(&[&["--image", &image, "--measurements=", "-o", "from-image"][..], &access].concat());
    ok(rvkit_in(d, &args.iter().map(String::as_str).collect::<Vec<_>>()));
    ok(rvkit_in(d, &[&["podvm", "fetch", &image, "-o", "podvm.json"][..], &access].concat()));
    let args = with(&["--measurements", "podvm.json", "-o", "from-file"]);
    ok(rvkit_in(d, &args.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(files(&d.join("from-image")), files(&d.join("from-file")));

    // Another key: verification fails (exit 1) and nothing is written.
    fs::copy(d.join("cosign.pub"), d.join("other.pub")).unwrap();
    let args = with(&[
        "--image",
        &image,
        "--measurements=",
        "-o",
        "wrong",
        "--key",
        "other.pub",
        "--rekor-key",
        "rekor.pub",
        "--insecure-registry",
        &reg.addr,
    ]);
    fails(rvkit_in(d, &args.iter().map(String::as_str).collect::<Vec<_>>()), 1);
    assert!(!d.join("wrong").exists());

    // An image whose signed manifest carries measurement annotations gives
    // the values they hold, with its layer gone from the registry (so none
    // is read): the same bundle as a file written with those values.
    let pcr03 = format!("0x{}", "3a".repeat(32));
    let pcr11 = format!("0x{}", "b1".repeat(32));
    let img = Image::podvm("podvm/annotated").with_annotations(&[
        ("io.github.confidential-containers.measurements.sha256.pcr03", &pcr03),
        ("io.github.confidential-containers.measurements.sha256.pcr11", &pcr11),
    ]);
    rt.block_on(reg.push_signed_image("podvm/annotated", "v1", &img, &signer, Some(&rekor)));
    fs::remove_file(reg.blob_file(&digest_of(&img.layers[0].bytes))).unwrap();
    let json = format!(r#"{{"measurements":{{"sha256":{{"pcr03":"{pcr03}","pcr11":"{pcr11}"}}}}}}"#);
    fs::write(d.join("annotated.json"), json).unwrap();
    let image = format!("docker://{}/podvm/annotated:v1", reg.addr);
    let args =
        with(&[&["--image", &image, "--measurements=", "-o", "from-annotations"][..], &access].concat());
    let out = rvkit_in(d, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "verified {}/podvm/annotated@{}; measurements from the manifest annotations (no layer downloaded)\n\
             wrote 18 files to from-annotations\n",
            reg.addr,
            img.digest()
        )
    );
    ok(out);
    let args = with(&["--measurements", "annotated.json", "-o", "from-annotated-file"]);
    ok(rvkit_in(d, &args.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(files(&d.join("from-annotations")), files(&d.join("from-annotated-file")));
    // Told to read the layers, the bundle finds the layer gone (exit 2).
    let from_layers =
        ["--image", &image, "--measurements=", "--measurements-from", "layers", "-o", "from-layers"];
    let args = with(&[&from_layers[..], &access].concat());
    fails(rvkit_in(d, &args.iter().map(String::as_str).collect::<Vec<_>>()), 2);
    assert!(!d.join("from-layers").exists());
}

/// `initdata check` and `bundle --kbs-cert` apply one rule for whether a
/// certificate covers the KBS host, and for hosts written without a trailing
/// dot it is the rule of OpenSSL (`x509 -checkhost`, and `-checkip` for an
/// address): a dNSName with a trailing dot names no host, an IP host is
/// covered only by an iPAddress entry, case does not matter.
#[test]
fn initdata_check_and_bundle_agree_on_kbs_certificates() {
    if !have_tools("initdata_check_and_bundle_agree_on_kbs_certificates", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let c = &CASES[0];
    let base = fs::read_to_string(d.join(setup_case(d, c, "cert-manager"))).unwrap();
    let domain_line = format!("domain = \"{}\"", c.domain);
    assert!(base.contains(&domain_line));
    for (i, (host, san, covered)) in [
        ("kbs.example.com", "DNS:kbs.example.com", true),
        ("kbs.example.com", "DNS:KBS.Example.COM", true),
        ("kbs.example.com", "DNS:kbs.example.com.", false),
        ("kbs.example.com", "DNS:*.example.com", true),
        ("192.0.2.7", "IP:192.0.2.7", true),
        ("192.0.2.7", "DNS:192.0.2.7", false),
        ("192.0.2.7", "DNS:kbs.example.com,IP:192.0.2.8", false),
    ]
    .into_iter()
    .enumerate()
    {
        let check = if host.parse::<std::net::IpAddr>().is_ok() { "-checkip" } else { "-checkhost" };
        let verdict = bash(
            d,
            &format!(
                "openssl req -x509 -nodes -days 365 -newkey rsa:2048 -keyout c{i}.key -out c{i}.crt \
                 -subj /CN=kbs -addext 'subjectAltName={san}' 2>/dev/null\n\
                 openssl x509 -in c{i}.crt -noout {check} {host}"
            ),
        );
        let verdict = String::from_utf8(verdict).unwrap();
        assert_eq!(!verdict.contains("does NOT match"), covered, "openssl on {san} for {host}: {verdict}");

        let pem = fs::read_to_string(d.join(format!("c{i}.crt"))).unwrap();
        let params = rvkit_initdata::render::RenderParams::new(format!("https://{host}"), pem);
        fs::write(d.join(format!("i{i}.toml")), rvkit_initdata::render::render(&params).unwrap()).unwrap();
        // Accepted (exit 0), or refused with `code` and a message naming the host.
        let verdict = |args: &[&str], code: i32, refusal: &str| {
            let out = rvkit_in(d, args);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            let want = if covered { 0 } else { code };
            assert_eq!(out.status.code(), Some(want), "{args:?}, {san} for {host}: {stderr}");
            assert_eq!(stderr.contains(&format!("{refusal} {host}")), !covered, "{stderr}");
        };
        verdict(&["initdata", "check", &format!("i{i}.toml")], 1, "does not cover the kbs host");

        let config = format!("t{i}.toml");
        fs::write(d.join(&config), base.replace(&domain_line, &format!("kbs_host = \"{host}\""))).unwrap();
        let cert = format!("c{i}.crt");
        let bundle = ["bundle", "--config", &config, "-o", &format!("b{i}"), "--kbs-cert", &cert];
        verdict(&bundle, 1, "does not name the KBS host");
    }
}

/// The `rvps-configmap.yaml` payload of a bundle, as JSON.
fn rvps_payload(dir: &Path) -> serde_json::Value {
    let docs = yaml_docs(&fs::read(dir.join("rvps-configmap.yaml")).unwrap());
    let data = &docs[0]["data"];
    let text = data["reference-values.json"].as_str().or_else(|| data["reference_value"].as_str()).unwrap();
    serde_json::from_str(text).unwrap()
}

/// Bare metal in one command: `[[launch.snp]]` and `[[launch.tdx]]` tables
/// and a merged reference-value file add `snp_launch_measurement` and
/// `mr_td` (values from sev-snp-measure and td-shim's script) to the podvm
/// and initdata values, in both ConfigMap formats; missing launch inputs
/// are named with every other missing file, each with its field and flag.
#[test]
fn launch_values_and_merged_files_join_the_reference_values() {
    use crate::launch::{OVMF, OVMF_MRTD, debian_ovmf, python, sev_snp_measure};
    if !have_tools("launch_values_and_merged_files_join_the_reference_values", &["openssl"]) || !debian_ovmf()
    {
        return;
    }
    let Some(oracle) = sev_snp_measure(&format!(
        "for n in (1, 2, 3):\n    print(guest.calc_launch_digest(SevMode.SEV_SNP, n, 0x800f12, '{OVMF}', None, None, None, 0x1).hex())"
    )) else {
        return;
    };
    let snp: Vec<&str> = oracle.lines().collect();
    let dir = tempdir();
    let d = dir.path();
    let config = setup_case(d, &CASES[0], "local");
    let render = ["bundle", "--config", config, "-o", "b"];
    ok(rvkit_in(d, &render));
    let podvm = rvps_payload(&d.join("b"));

    // The 3-vCPU value comes from a file, as `rvkit launch` or another tool writes it.
    let extra = format!(
        "[{{\"name\":\"snp_launch_measurement\",\"expiration\":\"{EXPIRATION}\",\"value\":[\"{}\"]}}]\n",
        snp[2]
    );
    fs::write(d.join("extra.json"), extra).unwrap();
    let launch = format!(
        "{}\n[[launch.snp]]\novmf = \"{OVMF}\"\nvcpus = \"1-2\"\nkata = true\n[[launch.tdx]]\novmf = \"{OVMF}\"\n",
        fs::read_to_string(d.join(config)).unwrap()
    );
    fs::write(d.join(config), launch).unwrap();
    ok(rvkit_in(d, &[&render[..], &["--merge-values", "extra.json"]].concat()));
    let mut expected = podvm.as_array().unwrap().clone();
    expected.push(serde_json::json!({
        "name": "snp_launch_measurement", "expiration": EXPIRATION, "value": [snp[0], snp[1], snp[2]]
    }));
    expected.push(serde_json::json!({"name": "mr_td", "expiration": EXPIRATION, "value": [OVMF_MRTD]}));
    assert_eq!(rvps_payload(&d.join("b")), serde_json::Value::Array(expected.clone()));

    // The kv format carries the same values; decoded here by Python.
    ok(rvkit_in(d, &[&render[..], &["--merge-values", "extra.json", "--format", "kv"]].concat()));
    let kv = rvps_payload(&d.join("b"));
    let decoded = python(&format!(
        "import base64, json\nkv = json.loads({:?})\n\
         print(json.dumps([json.loads(base64.urlsafe_b64decode(v)) for v in kv.values()]))",
        kv.to_string()
    ))
    .expect("python3 runs");
    let decoded: serde_json::Value = serde_json::from_str(&decoded).unwrap();
    let names = |v: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
        let mut out: Vec<_> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["name"].as_str().unwrap().to_owned(), r["value"].clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    assert_eq!(names(&decoded), names(&serde_json::Value::Array(expected)));

    // Trustee v0.17 and earlier compare base64: the same digests, encoded by Python.
    ok(rvkit_in(d, &[&render[..], &["--launch-base64"]].concat()));
    let b64 = python(&format!(
        "import base64\nfor h in ({:?}, {:?}, {OVMF_MRTD:?}):\n    print(base64.b64encode(bytes.fromhex(h)).decode())",
        snp[0], snp[1]
    ))
    .expect("python3 runs");
    let b64: Vec<&str> = b64.lines().collect();
    let mut expected = podvm.as_array().unwrap().clone();
    expected.push(serde_json::json!({
        "name": "snp_launch_measurement", "expiration": EXPIRATION, "value": [b64[0], b64[1]]
    }));
    expected.push(serde_json::json!({"name": "mr_td", "expiration": EXPIRATION, "value": [b64[2]]}));
    assert_eq!(rvps_payload(&d.join("b")), serde_json::Value::Array(expected));

    // Flags replace the tables; missing inputs are named all at once.
    let (code, stderr) = stderr_of(
        d,
        &[
            &render[..],
            &[
                "--merge-values",
                "gone.json",
                "--launch-snp",
                "ovmf=gone.fd,kernel=vmlinuz,append=nr_cpus=1,kata=true",
            ],
            &["--launch-tdx", "ovmf=gone-tdx.fd"],
        ]
        .concat(),
    );
    assert_eq!(
        (code, stderr.as_str()),
        (
            Some(2),
            "error: 4 input files cannot be read:\n  \
             gone.json (reference_values.merge, --merge-values): No such file or directory (os error 2)\n  \
             gone.fd (launch.snp.ovmf, --launch-snp): No such file or directory (os error 2)\n  \
             vmlinuz (launch.snp.kernel, --launch-snp): No such file or directory (os error 2)\n  \
             gone-tdx.fd (launch.tdx.ovmf, --launch-tdx): No such file or directory (os error 2)\n"
        )
    );
    // A launch the library refuses is named by its table before anything is read.
    let (code, stderr) = stderr_of(d, &[&render[..], &["--launch-snp", "ovmf=gone.fd,vcpus=0-2"]].concat());
    assert_eq!(
        (code, stderr.as_str()),
        (Some(2), "error: --launch-snp: \"0-2\": vCPU count 0 is out of range 1-512\n")
    );
}

/// A `[[launch.tdx]]` table with QEMU's fw_cfg files (paths relative to the
/// configuration), or the same as `--launch-tdx`, publishes the `rtmr_0`
/// that `rvkit launch tdx` computes from the same files, beside `mr_td` and
/// the direct-boot values.
#[test]
fn a_tdx_launch_table_with_fw_cfg_files_publishes_rtmr0() {
    use crate::launch::{OVMF, debian_kernel, debian_ovmf};
    if !have_tools("a_tdx_launch_table_with_fw_cfg_files_publishes_rtmr0", &["openssl"]) || !debian_ovmf() {
        return;
    }
    let Some(kernel) = debian_kernel() else { return };
    let dir = tempdir();
    let d = dir.path();
    let config = setup_case(d, &CASES[0], "local");
    fs::create_dir_all(d.join("acpi")).unwrap();
    let mut loader = vec![0u8; 128];
    loader[0] = 1;
    loader[4..19].copy_from_slice(b"etc/acpi/tables");
    fs::write(d.join("acpi/loader"), &loader).unwrap();
    fs::write(d.join("acpi/tables"), b"DSDT and the rest").unwrap();
    let launch = format!(
        "{}\n[[launch.tdx]]\novmf = \"{OVMF}\"\nkernel = \"{}\"\nmemory = 4096\n\
         fw_cfg = {{ \"etc/table-loader\" = \"acpi/loader\", \"etc/acpi/tables\" = \"acpi/tables\" }}\n",
        fs::read_to_string(d.join(config)).unwrap(),
        kernel.display()
    );
    fs::write(d.join(config), launch).unwrap();
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "b"]));
    let payload = rvps_payload(&d.join("b"));
    let published = |name: &str| {
        payload.as_array().unwrap().iter().find(|r| r["name"] == name).map(|r| r["value"][0].clone())
    };
    let kernel = kernel.display().to_string();
    let text = ok(rvkit_in(
        d,
        &[
            "launch",
            "tdx",
            "--ovmf",
            OVMF,
            "--kernel",
            &kernel,
            "--memory",
            "4096",
            "--fw-cfg",
            "etc/table-loader=acpi/loader",
            "--fw-cfg",
            "etc/acpi/tables=acpi/tables",
        ],
    ));
    let line =
        |name: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).unwrap().to_owned();
    for name in ["mr_td", "rtmr_0", "rtmr_1", "rtmr_2"] {
        assert_eq!(published(name), Some(serde_json::Value::String(line(name))), "{name}");
    }
    // The flag form names the map's entries as fw_cfg.NAME=FILE.
    let flag = format!(
        "ovmf={OVMF},kernel={kernel},memory=4096,fw_cfg.etc/table-loader=acpi/loader,fw_cfg.etc/acpi/tables=acpi/tables"
    );
    ok(rvkit_in(d, &["bundle", "--config", config, "-o", "b", "--launch-tdx", &flag]));
    let payload = rvps_payload(&d.join("b"));
    let rtmr0 =
        payload.as_array().unwrap().iter().find(|r| r["name"] == "rtmr_0").map(|r| r["value"][0].clone());
    assert_eq!(rtmr0, Some(serde_json::Value::String(line("rtmr_0"))));
}
