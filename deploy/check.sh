#!/usr/bin/env bash
# Offline checks of the deployment files: shell syntax, compose schema, the Kubernetes kustomization
# and the references inside it. Uses what is installed (kubectl, docker compose or docker-compose,
# python3 with PyYAML) and says which checks it could not run.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=0
skip() { echo "skip: $1"; }
check() { local name=$1; shift; if "$@" >/tmp/minference-check.$$ 2>&1; then echo "ok:   $name"; else echo "FAIL: $name"; cat /tmp/minference-check.$$; failed=1; fi; }

check "local-cluster.sh syntax" bash -n deploy/local-cluster.sh

if docker compose version >/dev/null 2>&1; then
    check "compose.yaml (docker compose config)" docker compose -f deploy/compose.yaml config -q
elif command -v docker-compose >/dev/null; then
    check "compose.yaml (docker-compose config)" docker-compose -f deploy/compose.yaml config -q
else
    skip "compose.yaml: neither docker compose nor docker-compose is installed"
fi

if command -v kubectl >/dev/null; then
    check "k8s kustomization (kubectl kustomize)" kubectl kustomize deploy/k8s -o /tmp/minference-k8s.$$.yaml
    if python3 -c "import yaml" 2>/dev/null && [[ -s /tmp/minference-k8s.$$.yaml ]]; then
        check "k8s references (labels, ports, volumes, settings JSON)" python3 - "/tmp/minference-k8s.$$.yaml" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
for d in docs:
    if d["kind"] == "ConfigMap":
        for key, value in d.get("data", {}).items():
            if key.endswith(".json"):
                json.loads(value)
    if d["kind"] != "StatefulSet":
        continue
    spec, pod = d["spec"], d["spec"]["template"]
    assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items(), "selector does not match the pod labels"
    assert ("Service", spec["serviceName"]) in kinds, f"no Service {spec['serviceName']}"
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])} | {v["metadata"]["name"]: v for v in spec.get("volumeClaimTemplates", [])}
    for c in pod["spec"]["containers"]:
        ports = {p["name"] for p in c.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            port = c.get(probe, {}).get("tcpSocket", {}).get("port")
            assert port is None or port in ports, f"{probe} port {port} is not a container port"
        for mount in c.get("volumeMounts", []):
            assert mount["name"] in volumes, f"volume {mount['name']} is not defined"
            source = volumes[mount["name"]]
            if "configMap" in source:
                assert ("ConfigMap", source["configMap"]["name"]) in kinds, f"no ConfigMap {source['configMap']['name']}"
            if "persistentVolumeClaim" in source:
                assert ("PersistentVolumeClaim", source["persistentVolumeClaim"]["claimName"]) in kinds
    if "serviceAccountName" in pod["spec"]:
        assert ("ServiceAccount", pod["spec"]["serviceAccountName"]) in kinds
print(f"{len(docs)} objects")
PY
    else
        skip "k8s references: python3 with PyYAML is not installed"
    fi
    rm -f /tmp/minference-k8s.$$.yaml
else
    skip "k8s: kubectl is not installed"
fi

rm -f /tmp/minference-check.$$
exit $failed
