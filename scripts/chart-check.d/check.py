"""The Python half of scripts/chart-check: reads rendered manifests and checks them.

  check.py count RENDER...                     manifests per render, for the summary
  check.py toml RENDER                         the notify.toml of the release's ConfigMap
  check.py validate --crds DIR... --kube V... --render RENDER EFFECTIVE_TOML [--render ...]
  check.py start RENDER NOTIFY SCRATCH         run every stage and hook command of RENDER

Failures go to stderr, one line each, and make the exit status 1; stdout is the summary line.
"""
import argparse
import copy
import glob
import os
import re
import subprocess
import sys
import tomllib

import jsonschema
import kubernetes_validate
import yaml

CHANNEL_PROVIDERS = {
    "apns": ["apns"], "fcm": ["fcm"], "webpush": ["webpush"],
    "sms": ["twilio", "vonage"], "email": ["sendgrid", "smtp"],
}
SECRET_WORDS = {"password", "passwd", "passphrase", "secret", "secrets", "key", "apikey", "token",
                "credential", "credentials", "pem", "jaas"}
REFERENCE_SUFFIXES = ("file", "path", "location", "dir", "id")
# named like secrets but identifiers: Vonage's api_key is the account's public id (its secret is
# api_secret, a reference)
NOT_SECRETS = {".dispatch.providers.vonage.api_key"}
# provider settings only the gateway reads: not mounted in the dispatchers
GATEWAY_ONLY = {"dsn_secret"}
REACHED_NETWORK = re.compile(
    r"cannot connect to the database|kafka admin request failed|schema registry unavailable")

errors = []


def fail(where, message):
    errors.append(f"{where}: {message}")


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def name(doc):
    return f"{doc['kind']}/{doc['metadata']['name']}"


def config_toml(docs):
    texts = {d["metadata"]["name"]: d["data"]["notify.toml"] for d in docs
             if d["kind"] == "ConfigMap" and "notify.toml" in d.get("data", {})}
    main = [n for n in texts if n.endswith("-config") and not n.endswith("-hooks-config")]
    if len(main) != 1:
        sys.exit(f"expected one release ConfigMap with notify.toml, found {sorted(texts)}")
    for other, text in texts.items():
        if text != texts[main[0]]:
            fail(f"ConfigMap/{other}", "differs from the release's notify.toml")
    return texts[main[0]]


def pod_spec(doc):
    if doc["kind"] in ("Deployment", "Job"):
        return doc["spec"]["template"]["spec"]
    return doc["spec"] if doc["kind"] == "Pod" else None


def notify_container(doc):
    spec = pod_spec(doc)
    return next((c for c in spec["containers"] if c["name"] == "notify"), None) if spec else None


# ---- schemas ---------------------------------------------------------------------------------
def strict(schema):
    """Refuses unknown fields where the CRD lists its fields, as the API server prunes them."""
    if isinstance(schema, dict):
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


def crd_schemas(dirs):
    schemas = {}
    for path in sorted(p for d in dirs for p in glob.glob(os.path.join(d, "*.yaml"))):
        for crd in load(path):
            spec = crd["spec"]
            for version in spec["versions"]:
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schema = strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                schemas[key] = jsonschema.Draft7Validator(schema)
    return schemas


def validate_schemas(docs, kube_versions, crds, counts):
    for doc in docs:
        validator = crds.get((doc["apiVersion"], doc["kind"]))
        if validator:
            for err in validator.iter_errors(doc):
                path = ".".join(str(p) for p in err.absolute_path)
                fail(name(doc), f"{path}: {err.message}")
            counts[doc["kind"]] = counts.get(doc["kind"], 0) + 1
            continue
        for version in kube_versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                counts["kubernetes"] = counts.get("kubernetes", 0) + 1
            except kubernetes_validate.SchemaNotFoundError:
                fail(name(doc), f"no schema for {doc['apiVersion']} in Kubernetes {version}")
            except kubernetes_validate.ValidationError as err:
                fail(name(doc), f"Kubernetes {version}: {err.message}")


# ---- the chart's promises --------------------------------------------------------------------
def secret_words(key):
    words = [w for w in re.split(r"[._-]", key.lower()) if w]
    if words and words[-1] in REFERENCE_SUFFIXES:
        return False
    return bool(SECRET_WORDS.intersection(words)) or key == "sasl.oauthbearer.config"


def no_inline_secret(table, where):
    for key, value in table.items():
        is_ref = isinstance(value, dict) and set(value) in ({"file"}, {"env"})
        if isinstance(value, dict) and not is_ref:
            no_inline_secret(value, f"{where}.{key}")
        elif secret_words(key) and not is_ref and f"{where}.{key}" not in NOT_SECRETS:
            fail("ConfigMap notify.toml", f"{where}.{key} holds a value, not a {{ file }} reference")


def secret_paths(raw, role, channel):
    """The files a process with `role` reads from the raw notify.toml."""
    paths = []

    def ref(value):
        if isinstance(value, dict) and "file" in value:
            paths.append(value["file"])

    kafka, store = raw.get("kafka", {}), raw.get("store", {})
    for value in kafka.get("secret_properties", {}).values():
        ref(value)
    for prop, value in kafka.get("client_properties", {}).items():
        if prop.endswith(".location"):
            paths.append(value)
    ref(store.get("password"))
    paths += [v for v in store.get("tls", {}).values()]
    ref(raw.get("schema_registry", {}).get("password"))
    if role == "ingest" and "secrets_key_file" in raw.get("ingest", {}):
        paths.append(raw["ingest"]["secrets_key_file"])
    providers = raw.get("dispatch", {}).get("providers", {})
    # the gateway checks Twilio's signed status callbacks with the account's auth token
    if role == "ingest" and "status_callback_base" in providers.get("twilio", {}):
        ref(providers["twilio"].get("auth_token"))
    # and Vonage's signed delivery receipts with the account's signature secret
    if role == "ingest" and "delivery_receipt_url" in providers.get("vonage", {}):
        ref(providers["vonage"].get("signature_secret"))
    # and the SMTP relay's forwarded bounce messages with the shared DSN secret
    if role == "ingest":
        ref(providers.get("smtp", {}).get("dsn_secret"))
    # links back to the gateway are signed by the router and the dispatchers, checked by ingest
    if role in ("ingest", "router", "dispatch"):
        for value in raw.get("links", {}).get("keys", []):
            ref(value)
    for provider in CHANNEL_PROVIDERS.get(channel, []) if role == "dispatch" else []:
        for field, value in providers.get(provider, {}).items():
            if field in GATEWAY_ONLY:
                continue  # in the provider's table, read by the gateway alone
            if field.endswith("_file"):
                paths.append(value)
            ref(value)
    return paths


def check_mounted(doc, paths):
    spec, container = pod_spec(doc), notify_container(doc)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = [(m["mountPath"].rstrip("/"), volumes[m["name"]]) for m in container.get("volumeMounts", [])]
    for path in paths:
        found = [(p, v) for p, v in mounts if path.startswith(p + "/")]
        if not found:
            fail(name(doc), f"reads {path}, which no volume mounts")
            continue
        mount, volume = max(found, key=lambda f: len(f[0]))
        items = volume.get("secret", {}).get("items")
        if "secret" not in volume:
            fail(name(doc), f"{path} is not from a Secret")
        elif items is not None and path[len(mount) + 1:] not in [i["path"] for i in items]:
            fail(name(doc), f"{path}: the Secret's key is not projected")


DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def check_names(docs):
    """Names and label values within Kubernetes' limits, even for the longest release name."""
    for doc in docs:
        meta = doc["metadata"]
        if len(meta["name"]) > (63 if doc["kind"] in ("Service", "Job", "Pod", "ScaledObject") else 253):
            fail(name(doc), "name too long")
        if doc["kind"] == "Service" and not DNS_LABEL.match(meta["name"]):
            fail(name(doc), "not a DNS-1035 label")
        template = doc.get("spec", {}).get("template", {}).get("metadata", {})
        for labels in (meta.get("labels", {}), template.get("labels", {})):
            for key, value in labels.items():
                if len(str(value)) > 63:
                    fail(name(doc), f"label {key} is longer than 63 characters")


def check_pods(docs, raw, effective):
    grace_s = effective["shutdown"]["grace_period_ms"] / 1000
    drain_s = effective["dispatch"]["drain_deadline_ms"] / 1000
    admin_port = int(effective["telemetry"]["metrics_addr"].rsplit(":", 1)[1])
    budgets = [d["spec"]["selector"]["matchLabels"] for d in docs if d["kind"] == "PodDisruptionBudget"]
    for doc in docs:
        container = notify_container(doc)
        if doc["kind"] == "Secret":
            fail(name(doc), "the chart must not render Secrets")
        if container is None:
            continue
        spec, args = pod_spec(doc), container["args"]
        role = args[0]
        channel = args[args.index("--channel") + 1] if "--channel" in args else None
        pod_sc, sc = spec.get("securityContext", {}), container.get("securityContext", {})
        if not pod_sc.get("runAsNonRoot") or pod_sc.get("runAsUser", 0) == 0:
            fail(name(doc), "pod may run as root")
        if (not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False
                or "ALL" not in sc.get("capabilities", {}).get("drop", [])):
            fail(name(doc), "container securityContext is not locked down")
        if not container.get("resources", {}).get("requests"):
            fail(name(doc), "no resource requests")
        check_mounted(doc, secret_paths(raw, role, channel))
        if doc["kind"] != "Deployment":
            continue
        drain = grace_s + (drain_s if role == "dispatch" else 0)
        if spec.get("terminationGracePeriodSeconds", 30) <= drain:
            fail(name(doc), f"terminationGracePeriodSeconds is not above the {drain:.0f} s drain")
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        if ports.get("admin") != admin_port:
            fail(name(doc), f"admin port is not telemetry.metrics_addr's {admin_port}")
        if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz" \
                or container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            fail(name(doc), "probes are not /healthz and /readyz")
        labels = doc["spec"]["template"]["metadata"]["labels"]
        if not any(all(labels.get(k) == v for k, v in b.items()) for b in budgets):
            fail(name(doc), "no PodDisruptionBudget selects it")


def check_scaling(docs, effective):
    kafka = effective["kafka"]
    prefix, parts = kafka["topic_prefix"], kafka["partitions"]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    scaled = 0
    for doc in docs:
        if doc["kind"] != "ScaledObject":
            continue
        scaled += 1
        target = deployments.get(doc["spec"]["scaleTargetRef"]["name"])
        if target is None:
            fail(name(doc), "scales no rendered Deployment")
            continue
        if "replicas" in target["spec"]:
            fail(name(target), "sets replicas although KEDA scales it")
        args = notify_container(target)["args"]
        if args[0] == "router":
            want = {(effective["router"]["group_id"], f"{prefix}.requests")}
            partitions = parts["requests"]
        else:
            ch, group = args[args.index("--channel") + 1], effective["dispatch"]["group_id_prefix"]
            want = {(f"{group}-{ch}", f"{prefix}.deliveries.{ch}"),
                    (f"{group}-{ch}-bulk", f"{prefix}.deliveries.{ch}.bulk")}
            partitions = parts["deliveries"]
        triggers = doc["spec"]["triggers"]
        got = {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in triggers}
        if got != want or any(t["type"] != "kafka" for t in triggers):
            fail(name(doc), f"triggers watch {sorted(got)}, the binary consumes {sorted(want)}")
        if any(t["metadata"]["bootstrapServers"] != kafka["brokers"] for t in triggers):
            fail(name(doc), "bootstrapServers differ from kafka.brokers")
        if doc["spec"]["maxReplicaCount"] > partitions:
            fail(name(doc), f"maxReplicaCount above the topic's {partitions} partitions")
    return scaled


def validate(args):
    crds = crd_schemas(args.crds)
    counts, scaled = {}, 0
    for render, effective_path in args.render:
        docs = load(render)
        raw = tomllib.loads(config_toml(docs))
        with open(effective_path, "rb") as f:
            effective = tomllib.load(f)
        no_inline_secret(raw, "")
        validate_schemas(docs, args.kube, crds, counts)
        check_names(docs)
        check_pods(docs, raw, effective)
        scaled += check_scaling(docs, effective)
    extra = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if k != "kubernetes")
    print(f"{counts.get('kubernetes', 0)} validations against Kubernetes {', '.join(args.kube)} "
          f"(strict); against CRDs: {extra or 'none'}; {scaled} ScaledObjects match the binary's "
          "groups, topics and partitions; pods, mounts and grace periods checked")


# ---- starting every command ------------------------------------------------------------------
def start(render, notify, scratch):
    docs = load(render)
    config = os.path.join(scratch, "start.toml")
    with open(config, "w") as f:
        f.write(config_toml(docs))
    base = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    base.update(NO_COLOR="1", RUST_LOG="error", NOTIFY_TELEMETRY__LOG_FORMAT="text",
                NOTIFY_TELEMETRY__METRICS_ADDR="127.0.0.1:0", NOTIFY_INGEST__LISTEN_ADDR="127.0.0.1:0",
                NOTIFY_KAFKA__REQUEST_TIMEOUT_MS="1000")
    ran = 0
    for doc in docs:
        container = notify_container(doc)
        if container is None:
            continue
        args = list(container["args"])
        args[args.index("--config") + 1] = config
        env = dict(base, **{e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
        try:
            proc = subprocess.run([notify, *args], env=env, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            fail(name(doc), f"`notify {' '.join(args)}` was still running after 60 s")
            continue
        last = [line for line in proc.stderr.splitlines() if line.startswith("error:")][-1:]
        if proc.returncode == 0 or not last or not REACHED_NETWORK.search(last[0]):
            fail(name(doc), f"`notify {' '.join(args)}` stopped before reaching the network: "
                            f"{(last or proc.stderr.splitlines()[-1:] or ['no output'])[0]}")
        ran += 1
    print(f"{ran} commands (every Deployment and hook Job) accepted the ci config and provider "
          "accounts and stopped only at the unreachable database, Kafka or registry")


def main():
    if sys.argv[1] == "count":
        parts = []
        for path in sys.argv[2:]:
            docs = load(path)
            kinds = {}
            for d in docs:
                kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
            label = os.path.basename(path).removesuffix(".yaml")
            parts.append(f"{label} {len(docs)} manifests ({kinds.get('Deployment', 0)} Deployments, "
                         f"{kinds.get('ScaledObject', 0)} ScaledObjects)")
        print("; ".join(parts))
        return
    if sys.argv[1] == "toml":
        print(config_toml(load(sys.argv[2])), end="")
    elif sys.argv[1] == "start":
        start(*sys.argv[2:5])
    else:
        parser = argparse.ArgumentParser()
        parser.add_argument("command")
        parser.add_argument("--crds", nargs="+", default=[])
        parser.add_argument("--kube", nargs="+", required=True)
        parser.add_argument("--render", nargs=2, action="append", required=True)
        validate(parser.parse_args())
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
