"""deploy/k8s/: the Kubernetes manifests, checked offline against the API schemas (no cluster)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from mnist_course.serving import config
from tests.conftest import needs_program

kubernetes_validate = pytest.importorskip("kubernetes_validate")

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.31.0"  # the API the manifests are checked against
OPERATOR_ONLY = {"servicemonitor.yaml"}  # needs the Prometheus operator's CRD


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict]:
    """(kind, name) -> resource, over every YAML file in deploy/k8s/ but kustomization.yaml."""
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, key
            found[key] = doc
    return found


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def flags(args: list[str]) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in args)


def container(deployment: dict, name: str) -> dict:
    (found,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                if c["name"] == name]
    return found


def ports(spec_ports: list[dict], key: str) -> dict[str, int]:
    return {p["name"]: p[key] for p in spec_ports}


def compose_image(service: dict) -> str:
    return service["image"].split(":-")[-1].rstrip("}")  # ${TF_SERVING_IMAGE:-default}


def model_entry() -> tuple[str, str]:
    text = (DEPLOY / "serving" / "models.config").read_text()
    (name,) = re.findall(r'^\s*name: "([^"]+)"', text, re.MULTILINE)
    (base_path,) = re.findall(r'^\s*base_path: "([^"]+)"', text, re.MULTILINE)
    return name, base_path


def test_every_manifest_passes_the_strict_schema(manifests):
    validated = 0
    for (kind, _name), doc in manifests.items():
        if kind == "ServiceMonitor":  # a CRD: no schema here, checked by hand below
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        validated += 1
    assert validated >= 10
    # strict mode does reject an unknown field (a typo would not pass silently)
    bad = copy.deepcopy(manifests[("Deployment", "tf-serving")])
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_exactly_the_manifests(kustomization, manifests):
    assert set(kustomization) <= {"apiVersion", "kind", "namespace", "resources", "images"}
    assert (kustomization["apiVersion"], kustomization["kind"]) == \
        ("kustomize.config.k8s.io/v1beta1", "Kustomization")
    on_disk = {p.name for p in K8S.glob("*.y*ml")} - {"kustomization.yaml"} - OPERATOR_ONLY
    assert len(kustomization["resources"]) == len(set(kustomization["resources"]))
    assert set(kustomization["resources"]) == on_disk
    assert OPERATOR_ONLY <= {p.name for p in K8S.iterdir()}
    namespace = kustomization["namespace"]
    assert ("Namespace", namespace) in manifests
    for (kind, name), doc in manifests.items():
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, (kind, name)
    deployment = manifests[("Deployment", "tf-serving")]
    images = {c["image"].split(":")[0]
              for c in deployment["spec"]["template"]["spec"]["initContainers"]}
    assert {i["name"] for i in kustomization["images"]} == images


def test_every_image_is_pinned(manifests):
    for doc in manifests.values():
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            assert ":" in c["image"] and not c["image"].endswith(":latest"), c["image"]


def test_tf_serving_runs_as_compose_does(manifests, compose):
    deployment = manifests[("Deployment", "tf-serving")]
    server = container(deployment, "tf-serving")
    replica = compose["services"]["tf-serving-1"]
    assert server["image"] == compose_image(replica)
    ours, theirs = flags(server["args"]), flags(replica["command"])
    assert set(ours) == set(theirs)
    for flag in ("port", "rest_api_port", "enable_batching"):
        assert ours[flag] == theirs[flag], flag
    args = config.flag_parser().parse_args(server["args"])  # flags the course's server accepts
    assert ports(server["ports"], "containerPort") == \
        {"grpc": args.port, "rest": args.rest_api_port} == {"grpc": 8500, "rest": 8501}
    # each config flag names a key of the mounted ConfigMap, and that key is the deploy/ file
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in server["volumeMounts"]}
    config_map = manifests[("ConfigMap", volumes[mounts["/config"]]["configMap"]["name"])]
    for flag in ("model_config_file", "batching_parameters_file", "monitoring_config_file"):
        path = Path(getattr(args, flag))
        assert str(path.parent) == "/config", flag
        assert config_map["data"][path.name] == (DEPLOY / "serving" / path.name).read_text()
    assert set(config_map["data"]) == {p.name for p in (DEPLOY / "serving").glob("*.config")}
    # the model's base_path lies on the volume the init container fills
    _, base_path = model_entry()
    models_mount = next(m for m in server["volumeMounts"] if base_path.startswith(m["mountPath"]))
    assert models_mount.get("readOnly") is True
    assert "emptyDir" in volumes[models_mount["name"]]
    (init,) = pod["initContainers"]
    assert [m["name"] for m in init["volumeMounts"]] == [models_mount["name"]]
    assert base_path in " ".join(init["command"])


def test_tf_serving_probes_resources_and_rollout(manifests):
    deployment = manifests[("Deployment", "tf-serving")]
    server = container(deployment, "tf-serving")
    name, _ = model_entry()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = server[probe]["httpGet"]
        assert get["path"] == f"/v1/models/{name}" == "/v1/models/mnist", probe
        assert get["port"] == "rest", probe
    for part in ("requests", "limits"):
        assert set(server["resources"][part]) == {"cpu", "memory"}, part
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_prometheus_annotations_and_servicemonitor_agree_with_monitoring_config(manifests):
    metrics_path = config.metrics_path(DEPLOY / "serving" / "monitoring.config")
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert metrics_path == job["metrics_path"] == "/monitoring/prometheus/metrics"
    compose_port = {t.split(":")[-1] for t in job["static_configs"][0]["targets"]}
    deployment = manifests[("Deployment", "tf-serving")]
    notes = deployment["spec"]["template"]["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true"
    assert notes["prometheus.io/path"] == metrics_path
    assert {notes["prometheus.io/port"]} == compose_port == {"8501"}


def test_servicemonitor_fields_by_hand(manifests):
    (path,) = OPERATOR_ONLY
    (monitor,) = documents(K8S / path)
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1",
                                                        "ServiceMonitor")
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(monitor["metadata"]) <= {"name", "namespace", "labels", "annotations"}
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    service = manifests[("Service", "tf-serving-headless")]
    labels = service["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert spec["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    metrics_path = config.metrics_path(DEPLOY / "serving" / "monitoring.config")
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert endpoint["port"] == "rest" and endpoint["port"] in ports(service["spec"]["ports"],
                                                                         "port")
        assert endpoint["path"] == metrics_path
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])


def test_headless_service_selects_the_replicas(manifests):
    service = manifests[("Service", "tf-serving-headless")]
    assert service["spec"]["clusterIP"] == "None"
    pod_labels = manifests[("Deployment", "tf-serving")]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert ports(service["spec"]["ports"], "port") == {"grpc": 8500, "rest": 8501}


def nginx_conf(manifests) -> str:
    return manifests[("ConfigMap", "nginx-config")]["data"]["nginx.conf"]


def test_nginx_resolves_the_headless_service_and_listens_as_in_compose(manifests, compose,
                                                                        kustomization):
    text = nginx_conf(manifests)
    service = manifests[("Service", "tf-serving-headless")]
    fqdn = f"{service['metadata']['name']}.{kustomization['namespace']}.svc.cluster.local"
    service_ports = ports(service["spec"]["ports"], "port")
    assert re.search(r"^\s*resolver \S+", text, re.MULTILINE)
    assert re.findall(r"set \$\w+ (\S+);", text) == \
        [f"{fqdn}:{service_ports['grpc']}", f"{fqdn}:{service_ports['rest']}"]
    assert re.search(r"grpc_pass grpc://\$\w+;", text)
    compose_conf = (DEPLOY / "nginx" / "nginx.conf").read_text()
    listen = r"listen (\d+)( http2)?;"
    assert re.findall(listen, text) == re.findall(listen, compose_conf) == \
        [("8500", " http2"), ("8501", "")]
    # the balancer's Deployment and Service expose the compose file's ports and image
    deployment = manifests[("Deployment", "nginx")]
    nginx = container(deployment, "nginx")
    assert nginx["image"] == compose["services"]["nginx"]["image"]
    published = {int(p.split(":")[-1]) for p in compose["services"]["nginx"]["ports"]}
    assert set(ports(nginx["ports"], "containerPort").values()) == published
    front = manifests[("Service", "mnist-serving")]
    assert front["spec"]["selector"].items() <= \
        deployment["spec"]["template"]["metadata"]["labels"].items()
    assert set(ports(front["spec"]["ports"], "port").values()) == published
    (mount,) = nginx["volumeMounts"]
    assert (mount["mountPath"], mount["subPath"]) == ("/etc/nginx/nginx.conf", "nginx.conf")


def test_in_cluster_nginx_config_passes_nginx_t(manifests, tmp_path):
    nginx = needs_program("nginx")
    # the resolver's own name only resolves inside the cluster; the rest is checked as written
    # (names behind `set` are resolved per request, not by nginx -t)
    local = re.sub(r"^(\s*resolver) \S+", r"\1 127.0.0.1", nginx_conf(manifests), flags=re.M)
    (tmp_path / "nginx.conf").write_text(local)
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c",
                            str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log"),
                            "-g", f"pid {tmp_path}/nginx.pid;"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_autoscaler_and_disruption_budget_fit_the_deployment(manifests):
    deployment = manifests[("Deployment", "tf-serving")]
    hpa = manifests[("HorizontalPodAutoscaler", "tf-serving")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    (metric,) = hpa["spec"]["metrics"]
    assert (metric["type"], metric["resource"]["name"]) == ("Resource", "cpu")
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"] < hpa["spec"]["maxReplicas"]
    pdb = manifests[("PodDisruptionBudget", "tf-serving")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # a drain can proceed


def test_grafana_dashboard_config_map_is_the_dashboard(manifests):
    (dashboard,) = [doc for (kind, _), doc in manifests.items()
                    if kind == "ConfigMap" and doc["metadata"]["labels"].get("grafana_dashboard")]
    source = DEPLOY / "grafana" / "dashboards" / "tf-serving.json"
    assert dashboard["data"] == {source.name: source.read_text()}
    assert json.loads(dashboard["data"][source.name])["panels"]


def test_the_deploy_readme_documents_kubernetes():
    text = (DEPLOY / "README.md").read_text()
    assert "kubectl apply -k deploy/k8s" in text
    assert "kubernetes-validate" in text and KUBERNETES_VERSION in text
