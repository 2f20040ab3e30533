"""deploy/: the Docker stack's files, checked offline (Docker does not run here)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from mnist_course.serving import config
from mnist_course.serving.metrics import Metrics
from tests.conftest import needs_program

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def replicas(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if name.startswith("tf-serving")}


def test_every_yaml_file_parses_and_images_are_pinned(compose):
    for path in DEPLOY.rglob("*.yml"):
        assert yaml.safe_load(path.read_text()), path
    for name, service in compose["services"].items():
        image = service["image"].split(":-")[-1].rstrip("}")
        assert ":" in image and not image.endswith(":latest"), (name, image)


def test_replica_command_lines_are_tf_serving_flags_this_server_accepts(compose):
    parser = config.flag_parser()
    for service in replicas(compose).values():
        args = parser.parse_args(service["command"])
        assert (args.port, args.rest_api_port, args.enable_batching) == (8500, 8501, True)
        mounts = [volume.split(":")[-2] for volume in service["volumes"]]  # source:target:ro
        for flag in ("model_config_file", "batching_parameters_file", "monitoring_config_file"):
            container_path = getattr(args, flag)
            assert any(container_path.startswith(target) for target in mounts), container_path


def _local(container_path: str) -> Path:
    """The file in deploy/ that compose mounts at ``container_path``."""
    name = Path(container_path).name
    return DEPLOY / "serving" / name


def test_tf_serving_config_files_parse_and_agree(compose):
    args = config.flag_parser().parse_args(next(iter(replicas(compose).values()))["command"])
    (entry,) = config.read_model_config(_local(args.model_config_file))
    assert entry.name == "mnist"
    from tensorflow_serving.config import model_server_config_pb2

    raw = config.read_text_proto(_local(args.model_config_file),
                                 model_server_config_pb2.ModelServerConfig())
    base_path = raw.model_config_list.config[0].base_path
    volumes = next(iter(replicas(compose).values()))["volumes"]
    assert any(v.split(":")[-2] == base_path for v in volumes), (base_path, volumes)
    batching = config.Batching.from_file(_local(args.batching_parameters_file))
    assert batching.max_batch_size >= 1
    metrics_path = config.metrics_path(_local(args.monitoring_config_file))
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert job["metrics_path"] == metrics_path
    assert sorted(job["static_configs"][0]["targets"]) == \
        sorted(f"{name}:{args.rest_api_port}" for name in replicas(compose))


def test_nginx_balances_every_replica_and_passes_nginx_t(compose, tmp_path):
    text = (DEPLOY / "nginx" / "nginx.conf").read_text()
    names = sorted(replicas(compose))
    assert sorted(re.findall(r"server (tf-serving-\d+):8500;", text)) == names
    assert sorted(re.findall(r"server (tf-serving-\d+):8501;", text)) == names
    assert "grpc_pass grpc://" in text and "listen 8500 http2" in text
    ports = {p.split(":")[-1] for p in compose["services"]["nginx"]["ports"]}
    assert ports == {"8500", "8501"}
    nginx = needs_program("nginx")
    # the service names resolve only inside compose; everything else is checked as written
    local = re.sub(r"tf-serving-\d+", "127.0.0.1", text)
    (tmp_path / "nginx.conf").write_text(local)
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c",
                            str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log"),
                            "-g", f"pid {tmp_path}/nginx.pid;"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_compose_nginx_serves_the_draw_a_digit_page_where_its_config_looks(compose):
    text = (DEPLOY / "nginx" / "nginx.conf").read_text()
    (root,) = re.findall(r"root (\S+);", text)
    mounts = dict(v.split(":")[:2] for v in compose["services"]["nginx"]["volumes"])
    assert mounts["./web"] == root
    page = (DEPLOY / "web" / "index.html").read_text()
    assert all(f'id="{name}"' in page for name in ("canvas", "prediction", "probabilities",
                                                   "preview", "clear"))
    assert "http" not in re.sub(r"<!--.*?-->", "", " ".join(
        re.findall(r'(?:src|href)="([^"]*)"', page)))  # nothing from elsewhere (a CDN)
    script = (DEPLOY / "web" / "app.js").read_text()
    assert '"/v1/models/mnist:predict"' in script and 'signature_name: "canvas"' in script


def test_prometheus_config_passes_promtool():
    promtool = needs_program("promtool")
    check = subprocess.run([promtool, "check", "config",
                            str(DEPLOY / "prometheus" / "prometheus.yml")],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_grafana_dashboard_uses_the_provisioned_source_and_exported_metrics():
    sources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
                             .read_text())["datasources"]
    uids = {s["uid"] for s in sources}
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/dashboards.yml")
                              .read_text())["providers"][0]
    compose_text = (DEPLOY / "docker-compose.yml").read_text()
    assert f":{provider['options']['path']}:ro" in compose_text
    dashboard = json.loads((DEPLOY / "grafana/dashboards/tf-serving.json").read_text())
    metrics = Metrics()
    metrics.request("mnist", "OK", "predict", "GRPC", 0.001)
    metrics.version_loaded("mnist", "/models/mnist/1", 1, ok=True)
    exported = set(re.findall(r"^(:[a-z_:]+)\{", metrics.render(), re.MULTILINE))
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids
        for target in panel["targets"]:
            used = set(re.findall(r"(:[a-z_:]+)", target["expr"]))
            assert used and used <= exported, (panel["title"], used - exported)


def test_the_deploy_readme_documents_the_client_variables():
    text = (DEPLOY / "README.md").read_text()
    assert "TF_SERVING_GRPC" in text and "TF_SERVING_REST" in text
    assert shlex.split("docker compose -f deploy/docker-compose.yml up")[0] in text
