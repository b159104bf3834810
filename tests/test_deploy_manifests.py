"""The Kubernetes manifests are valid for the API server and wire every service the same way."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).parents[1] / "deploy" / "k8s"
SERVICES = {"sessions": 8101, "goals": 8102, "notifications": 8103}
KUBERNETES_VERSION = "1.30.0"


def documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_validates_strictly(doc):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _find(kind: str, name: str) -> dict:
    [doc] = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


@pytest.mark.parametrize("service, port", SERVICES.items())
def test_each_service_has_probes_resources_and_consistent_ports(service, port):
    container = _find("Deployment", service)["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env[f"RAPPORT_{service.upper()}_PORT"]["value"] == str(port)
    assert container["ports"][0]["containerPort"] == port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    secret_ref = env[f"RAPPORT_{service.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    secret = yaml.safe_load((K8S / "secret.template.yaml").read_text())
    assert secret_ref["key"] in secret["stringData"]
    assert _find("Service", service)["spec"]["ports"][0]["port"] == port


def test_notifications_scales_out_with_an_autoscaler_and_a_disruption_budget():
    deployment = _find("Deployment", "notifications")
    hpa = _find("HorizontalPodAutoscaler", "notifications")
    pdb = _find("PodDisruptionBudget", "notifications")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "notifications"
    assert hpa["spec"]["minReplicas"] >= 2
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_kustomization_lists_every_manifest_but_the_secret_template():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.template.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("service", SERVICES)
def test_only_sessions_and_goals_get_the_plan_seal_key(service):
    container = _find("Deployment", service)["spec"]["template"]["spec"]["containers"][0]
    sealed = [e for e in container["env"] if e["name"] == "RAPPORT_PLAN_SEAL_KEY"]
    if service == "notifications":
        assert sealed == []  # it never sees the plan's words
    else:
        [env] = sealed
        assert env["valueFrom"]["secretKeyRef"] == {
            "name": "rapport-secrets",
            "key": "RAPPORT_PLAN_SEAL_KEY",
        }
        template = _find("Secret", "rapport-secrets")["stringData"]
        assert "RAPPORT_PLAN_SEAL_KEY" in template
