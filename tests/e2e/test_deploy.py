"""The Kubernetes manifests in deploy/kubernetes/ as shipped: every resource
is valid against the Kubernetes API schemas (strict: no unknown fields),
the kustomization names exactly the files there, and the gateway config in
the ConfigMap is one `switchboard validate` accepts."""

import subprocess
from pathlib import Path

import kubernetes_validate
import yaml

from conftest import ROOT, binary

DEPLOY = ROOT / "deploy" / "kubernetes"
# A Kubernetes release whose schemas kubernetes-validate ships, still in
# support when the manifests were written.
KUBERNETES = "1.33.0"


def documents(path: Path) -> list[dict]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def manifests() -> list[Path]:
    return sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def test_every_resource_is_valid_against_the_kubernetes_schemas():
    kinds = set()
    for path in manifests():
        for doc in documents(path):
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
            kinds.add(doc["kind"])
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    }


def test_the_kustomization_names_every_manifest():
    (kustomization,) = documents(DEPLOY / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [p.name for p in manifests()]


def test_the_deployment_probes_and_runs_as_the_image_user():
    (deployment,) = documents(DEPLOY / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    # Every credential comes from the Secret, none is written in the manifest.
    for variable in container["env"]:
        assert "value" not in variable, variable["name"]
        assert variable["valueFrom"]["secretKeyRef"]["name"] == "switchboard-keys"


def test_the_configmap_holds_a_config_the_gateway_accepts(tmp_path):
    (configmap,) = documents(DEPLOY / "configmap.yaml")
    config = tmp_path / "switchboard.toml"
    config.write_text(configmap["data"]["switchboard.toml"])
    env = {
        "PATH": "/usr/bin:/bin",
        "SWITCHBOARD_ADMIN_KEY": "sk-admin-deploy-check-0123456789",
        "SWITCHBOARD_KEY_PLATFORM": "sk-platform-deploy-check-0123456789",
        "SWITCHBOARD_REDIS_URL": "redis://:password@redis:6379/0",
    }
    result = subprocess.run(
        [str(binary()), "validate", "--config", str(config)],
        env=env,
        cwd=ROOT,  # `validate` also checks the data folders it finds here
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
