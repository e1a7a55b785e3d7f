"""Validates a rendered `rvkit bundle` directory against the schemas the API
server would use.

- Core objects (Secret, ConfigMap): the upstream Kubernetes schemas shipped
  by the PyPI package kubernetes-validate, strict (unknown fields rejected).
- TrusteeConfig: the trustee-operator CRD's openAPIV3Schema.
- KbsConfig: the object the operator creates from the TrusteeConfig, with
  the bundle's JSON patch applied, against the KbsConfig CRD's schema.
- Route, Issuer, Certificate: against the CRDs named by the environment
  variables RVKIT_ROUTE_CRD (a file) and RVKIT_CERT_MANAGER_CRDS (a
  directory of cert-manager CRD files), when set; otherwise reported as
  skipped.

CRD schemas are made strict the way `oc apply --validate=strict` treats
them: an object schema listing its properties rejects any other.

Usage: validate.py BUNDLE_DIR SCHEMAS_DIR
Prints one line per object; exits 1 if any object is invalid.
"""

import copy
import glob
import os
import sys

import jsonschema
import kubernetes_validate
import yaml


def strict(schema):
    """The CRD schema as JSON Schema, strict about unknown fields. Schemas
    inside allOf/anyOf/oneOf/not only add constraints and are left open."""
    schema = copy.deepcopy(schema)

    def walk(s, constraint):
        if isinstance(s, dict):
            for k in [k for k, v in s.items() if v is None]:
                del s[k]
            if s.pop("x-kubernetes-int-or-string", False):
                s["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            if (
                not constraint
                and "properties" in s
                and "additionalProperties" not in s
                and not s.get("x-kubernetes-preserve-unknown-fields")
            ):
                s["additionalProperties"] = False
            for k, v in s.items():
                walk(v, constraint or k in ("allOf", "anyOf", "oneOf", "not"))
        elif isinstance(s, list):
            for v in s:
                walk(v, constraint)

    walk(schema, False)
    return schema


def crd_schemas(paths):
    """(apiVersion, kind) -> (schema, file) for every CRD in `paths`."""
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
                    out[key] = (strict(v["schema"]["openAPIV3Schema"]), os.path.basename(path))
    return out


def main():
    bundle, schemas_dir = sys.argv[1], sys.argv[2]
    crd_files = glob.glob(os.path.join(schemas_dir, "*.yaml"))
    if os.environ.get("RVKIT_ROUTE_CRD"):
        crd_files.append(os.environ["RVKIT_ROUTE_CRD"])
    if os.environ.get("RVKIT_CERT_MANAGER_CRDS"):
        crd_files += glob.glob(os.path.join(os.environ["RVKIT_CERT_MANAGER_CRDS"], "*.yaml"))
    crds = crd_schemas(crd_files)
    k8s_version = kubernetes_validate.latest_version()
    failures = 0

    def check_crd(label, obj):
        nonlocal failures
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key not in crds:
            print(f"skipped: {label}: no schema for {key[0]} {key[1]} (set RVKIT_ROUTE_CRD / RVKIT_CERT_MANAGER_CRDS)")
            return
        schema, source = crds[key]
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=str)
        for e in errors:
            failures += 1
            path = "/".join(str(p) for p in e.absolute_path)
            print(f"INVALID: {label}: {path}: {e.message}")
        if not errors:
            print(f"ok: {label} against {source}")

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
            if obj.get("apiVersion") == "v1":
                try:
                    kubernetes_validate.validate(obj, k8s_version, strict=True)
                    print(f"ok: {label} against Kubernetes {k8s_version}")
                except kubernetes_validate.ValidationError as e:
                    failures += 1
                    print(f"INVALID: {label}: {e.message}")
            else:
                check_crd(label, obj)

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
    with open(os.path.join(bundle, "kbsconfig-patch.yaml")) as f:
        ops = yaml.safe_load(f)
    for op in ops:
        assert op["op"] == "add" and op["path"] == "/spec/kbsSecretResources/-", op
        kbsconfig["spec"]["kbsSecretResources"].append(op["value"])
    check_crd("kbsconfig-patch.yaml applied to KbsConfig/trusteeconfig-kbs-config", kbsconfig)

    if failures:
        print(f"{failures} schema violation(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
