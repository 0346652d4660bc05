"""The compose file, the code and the README agree on services and settings."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"gateway", "identity", "chat", "mail", "webhooks", "dashboard"}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _names_read_by_code() -> set[str]:
    names: set[str] = set()
    for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py")]:
        names |= set(re.findall(r'"((?:PARLEY|NATS|MONGO|GEOIP)_[A-Z_]+)"', path.read_text()))
    return names


def test_every_parley_service_is_in_compose_with_its_module_command() -> None:
    compose = _compose()["services"]
    assert SERVICES <= set(compose)
    for name in SERVICES:
        assert compose[name]["command"] == ["python", "-m", f"services.{name}"]
        assert (ROOT / "services" / name / "__main__.py").exists()
        assert compose[name]["restart"] == "unless-stopped"
        assert "healthcheck" in compose[name]
        depends = compose[name]["depends_on"]
        assert depends["mongo"]["condition"] == depends["nats"]["condition"] == "service_healthy"


def test_every_variable_compose_sets_is_read_by_the_code() -> None:
    read = _names_read_by_code()
    for name in SERVICES:
        env = _compose()["services"][name]["environment"]
        healthcheck = " ".join(_compose()["services"][name]["healthcheck"]["test"])
        for var in env:
            assert var in read or var in healthcheck, f"compose sets {var}, which nothing reads"


def test_the_fixed_setting_names_are_read_and_documented() -> None:
    fixed = {
        "PARLEY_DATA_DIR",
        "PARLEY_GATEWAY_PORT",
        "PARLEY_DASHBOARD_PORT",
        "NATS_URL",
        "MONGO_URL",
        "PARLEY_WRITE_KEY",
        "PARLEY_SECRET_KEY",
        "PARLEY_IDENTITY_SECRET",
        "PARLEY_ADMIN_EMAIL",
        "PARLEY_ADMIN_PASSWORD",
    }
    readme = (ROOT / "README.md").read_text()
    read = _names_read_by_code()
    compose_env = _compose()["services"]["gateway"]["environment"]
    for var in fixed:
        assert var in read, f"{var} is not read by the code"
        assert f"`{var}`" in readme, f"{var} is missing from the README settings table"
    for var in read:
        assert f"`{var}`" in readme, f"the code reads {var}, but the README does not document it"
    assert {v for v in fixed if v != "PARLEY_DATA_DIR"} <= set(compose_env) | {"PARLEY_DATA_DIR"}


def test_mongo_runs_as_a_replica_set_and_nats_with_jetstream() -> None:
    services = _compose()["services"]
    assert "--replSet" in services["mongo"]["command"]
    assert "-js" in services["nats"]["command"]
    assert "replicaSet=rs0" in services["gateway"]["environment"]["MONGO_URL"]


def _k8s() -> list[dict]:
    return [d for d in yaml.safe_load_all((ROOT / "deploy/k8s/parley.yaml").read_text()) if d]


def test_the_demo_site_is_off_in_containers_and_on_kubernetes() -> None:
    for name in SERVICES:
        assert _compose()["services"][name]["environment"]["PARLEY_DEMO"] == "${PARLEY_DEMO:-false}"
    config = next(d for d in _k8s() if d["kind"] == "ConfigMap")["data"]
    assert config["PARLEY_DEMO"] == "false"


def test_metrics_ports_are_scraped_where_the_code_serves_them_and_never_published() -> None:
    from shared.settings import METRICS_PORT_OFFSETS

    base = int(_compose()["services"]["gateway"]["environment"]["PARLEY_METRICS_PORT"])
    for name in SERVICES:
        published = " ".join(_compose()["services"][name].get("ports", []))
        assert str(base + METRICS_PORT_OFFSETS[name]) not in published
    config = next(d for d in _k8s() if d["kind"] == "ConfigMap")["data"]
    k8s_base = int(config["PARLEY_METRICS_PORT"])
    for deployment in (d for d in _k8s() if d["kind"] == "Deployment"):
        service = deployment["metadata"]["name"].removeprefix("parley-")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert int(annotations["prometheus.io/port"]) == k8s_base + METRICS_PORT_OFFSETS[service]


def test_the_replica_set_is_initiated_once_by_a_one_shot_container() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            # initdb scripts run against the image's temporary localhost-only mongod
            assert "docker-entrypoint-initdb.d" not in volume, f"{name} mounts an initdb script"
    assert "initiate" not in " ".join(services["mongo"]["healthcheck"]["test"])
    init = services["mongo-init"]
    assert init["restart"] == "no"
    assert init["depends_on"]["mongo"]["condition"] == "service_healthy"
    script = init["command"][-1]
    mount = next(v for v in init["volumes"] if v.split(":")[1] == script)
    assert (ROOT / mount.split(":")[0]).is_file()
    assert "rs.initiate" in (ROOT / mount.split(":")[0]).read_text()
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["mongo-init"]["condition"] == "service_completed_successfully"


def test_the_replica_set_script_is_valid_javascript() -> None:
    node = shutil.which("node")
    assert node, "node runs the widget's tests too"
    subprocess.run([node, "--check", str(ROOT / "deploy/mongo/init-replica-set.js")], check=True)


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions, one list per stage (continuation lines joined)."""
    text = (ROOT / "deploy/Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            stages.append([])
        if line and not line.startswith("#"):
            stages[-1].append(line)
    return stages


def test_the_image_installs_the_wheel_and_runs_as_a_non_root_user() -> None:
    build, runtime = _stages()
    assert any("pip wheel" in line for line in build)
    copied = [line for line in runtime if line.startswith("COPY")]
    # no sources in the runtime image: the wheel from the build stage, and the pins
    assert all("--from=build" in line or "constraints.txt" in line for line in copied)
    install = next(line for line in runtime if "pip install" in line)
    assert "-c /tmp/constraints.txt" in install and ".whl" in install and " -e " not in install
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_the_image_is_built_from_what_the_wheel_test_builds() -> None:
    from tests.packaging.test_wheel import SOURCES

    copies = [line.split()[1:-1] for line in _stages()[0] if line.startswith("COPY")]
    assert set(SOURCES) <= {source for sources in copies for source in sources}
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {*SOURCES, "constraints.txt"} & set(ignored)
