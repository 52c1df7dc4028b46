"""deploy/compose.yaml, checked offline (no images are pulled; Docker Compose is not needed): the services the
deployment promises, pinned images, a healthcheck on each, a start order that exists and ends, every facwatch
command parsed by the real command line and naming real parts, every mounted file present, the settings file
loaded by facwatch itself, Prometheus's config passing ``promtool check config``, and the broker's config
run by a real Mosquitto: anonymous clients are refused on the devices' listener, the gateway's site user gets in,
and the healthcheck's listener answers."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import tomllib
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from facwatch.config import load_settings, load_site
from gateway.broker_config import write_broker_config
from tests.deploy.compose_check import facwatch_parts, problems
from tests.deploy.conftest import RULES
from tests.fixtures.servers import find_server, free_port, port_open, start_server, stop_process

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
FACWATCH = {"worker-1", "worker-2", "api-1", "api-2"}
OTHERS = {"mosquitto", "postgres", "influxdb", "lb", "prometheus"}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _parts(service: dict[str, Any]) -> list[str]:
    parts = facwatch_parts(service["command"])
    assert isinstance(parts, list), parts
    assert service["command"][:3] == ["run", "--config", "/etc/facwatch/facwatch.toml"]
    return parts


def test_the_promised_services_are_there() -> None:
    assert set(_services()) == FACWATCH | OTHERS


def test_the_shipped_file_has_no_problem() -> None:
    assert problems(_services(), COMPOSE.parent) == []
    for name in FACWATCH:  # facwatch's own verdict: /readyz of the parts the process runs
        assert any("/readyz" in word for word in _services()[name]["healthcheck"]["test"]), name
    assert _services()["postgres"]["image"].startswith("postgres:15")
    assert _services()["influxdb"]["image"].startswith("influxdb:2")
    # One process migrates an empty database before the others start (migrations take no lock).
    first = {n for n in FACWATCH if "api-1" not in _services()[n].get("depends_on", {})}
    assert first == {"api-1"}


def _break(change: str, services: dict[str, dict[str, Any]]) -> None:
    if change == "misspelt part":
        services["worker-1"]["command"] = [
            "run",
            "--config",
            "/etc/facwatch/facwatch.toml",
            "--only",
            "wroker",
        ]
    elif change == "not a command":
        services["api-2"]["command"] = ["serve", "--config", "/etc/facwatch/facwatch.toml"]
    elif change == "no healthcheck":
        del services["influxdb"]["healthcheck"]
    elif change == "unpinned image":
        services["postgres"]["image"] = "postgres:latest"
    elif change == "missing service":
        services["lb"]["depends_on"]["api-3"] = {"condition": "service_started"}
    elif change == "cycle":
        services["api-1"]["depends_on"]["worker-1"] = {"condition": "service_started"}


BROKEN = {
    "misspelt part": "worker-1: unknown parts ['wroker']",
    "not a command": "api-2: facwatch does not accept the command",
    "no healthcheck": "influxdb: no healthcheck",
    "unpinned image": "postgres: image 'postgres:latest' is not pinned",
    "missing service": "lb: waits for api-3, which does not exist",
    "cycle": "a dependency cycle among",
}


@pytest.mark.parametrize("change", sorted(BROKEN))
def test_a_broken_file_is_caught(change: str) -> None:
    services = _services()
    _break(change, services)
    found = problems(services, COMPOSE.parent)
    assert any(problem.startswith(BROKEN[change]) for problem in found), found


def test_commands_name_real_facwatch_parts() -> None:
    services = _services()
    assert [n for n in sorted(FACWATCH) if "worker" in _parts(services[n])] == ["worker-1", "worker-2"]
    assert [n for n in sorted(FACWATCH) if _parts(services[n]) == ["api"]] == ["api-1", "api-2"]
    for name in FACWATCH:  # the worker id is the host name; its spool and queued findings are its own
        assert services[name]["hostname"] == name
        assert f"{name}-data:/var/lib/facwatch" in services[name]["volumes"]
        assert services[name]["stop_signal"] == "SIGTERM"


def test_the_image_carries_every_package_and_runs_unprivileged() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    for package in packages:  # a package left out would be missing from the image, not from the tests
        assert f"COPY {package} ./{package}" in dockerfile, package
        assert f"!{package}/" in ignore, package
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) == 2  # build, then run
    (user,) = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert not user.startswith(("root", "0"))
    assert "'.[postgres]'" in dockerfile  # the state database of many workers


def test_the_load_balancer_spreads_over_both_replicas_and_streams_unbuffered() -> None:
    conf = (DEPLOY / "compose" / "nginx.conf").read_text()
    upstream = conf[
        conf.index("upstream facwatch_api") : conf.index("}", conf.index("upstream facwatch_api"))
    ]
    assert re.findall(r"server (\S+?):8000", upstream) == ["api-1", "api-2"]
    events = conf[conf.index("location /api/v1/events") :]
    assert "proxy_buffering off;" in events[: events.index("}")]
    assert "listen 8000;" in conf and "8000:8000" in _services()["lb"]["ports"]


def test_mounted_files_exist_and_secrets_come_from_the_environment() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name} mounts {source}, which is missing"
    text = COMPOSE.read_text()
    needed = set(re.findall(r"\$\{(\w+):\?", text))
    example = (DEPLOY / "compose" / "env.example").read_text()
    assert needed == set(re.findall(r"^(\w+)=", example, re.M))
    for name, service in _services().items():  # no secret is written into the file itself
        for key, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|TOKEN|STATE__URL", key):
                assert "${" in str(value), f"{name}: {key} is written in compose.yaml"


def test_the_settings_file_loads_as_facwatch_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACWATCH_STATE__URL", "postgresql+psycopg://facwatch:x@postgres:5432/facwatch")
    monkeypatch.setenv("FACWATCH_MQTT__PASSWORD", "secret")
    settings = load_settings(DEPLOY / "compose" / "facwatch.toml")
    assert settings.mqtt.url == "mqtt://mosquitto:1883"
    assert settings.mqtt.username == "facwatch-gateway-{site}"  # one broker user per site (client id = user)
    assert settings.telemetry.backend == "influxdb"
    assert settings.api.host == "0.0.0.0" and settings.api.port == 8000
    assert settings.state.url is not None and settings.state.url.startswith("postgresql")


def test_prometheus_scrapes_all_four_and_its_config_passes_promtool(tmp_path: Path) -> None:
    config_path = DEPLOY / "compose" / "prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "facwatch"
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    assert targets == {f"{name}:8000" for name in FACWATCH}
    mounted = [v for v in _services()["prometheus"]["volumes"] if v.startswith("./prometheus/rules.yml:")]
    assert mounted == [f"./prometheus/rules.yml:{config['rule_files'][0]}:ro"]
    (tmp_path / "prometheus.yml").write_text(
        config_path.read_text().replace(config["rule_files"][0], str(RULES))
    )
    promtool = find_server("promtool", "/usr/bin/promtool")
    done = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    """Where Docker Compose is installed: ``docker compose config`` (it reads, pulls nothing)."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("docker compose is not installed: the checks above stand in for it")
    env = tmp_path / ".env"
    env.write_text((DEPLOY / "compose" / "env.example").read_text())
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "--env-file", str(env), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


# --- the broker's config, run by a real Mosquitto -------------------------------------------------------------


def _connect(port: int, user: str | None = None, password: str | None = None) -> str:
    """The broker's answer to a CONNECT: "Success", "Not authorized", ..."""
    answer: list[str] = []
    done = threading.Event()

    def on_connect(_c: mqtt.Client, _u: object, _f: object, code: ReasonCode, _p: object) -> None:
        answer.append(str(code))
        done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
    if user is not None:
        client.username_pw_set(user, password)
    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
        return answer[0]
    finally:
        client.loop_stop()
        client.disconnect()


def _first_message(port: int, topic: str) -> bytes:
    """The first message an anonymous client subscribed to ``topic`` receives (the broker's $SYS is retained)."""
    got: list[bytes] = []
    arrived = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, *_: c.subscribe(topic)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        got.append(bytes(message.payload))
        arrived.set()

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert arrived.wait(20), f"nothing on {topic}"
        return got[0]
    finally:
        client.loop_stop()
        client.disconnect()


def test_the_shipped_broker_config_runs(tmp_path: Path) -> None:
    binary = find_server("mosquitto", "/usr/sbin/mosquitto")
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    auth = tmp_path / "auth"
    gateway_user = f"facwatch-gateway-{site.id}"  # what username = "facwatch-gateway-{site}" becomes
    write_broker_config(site, auth, gateway_user=gateway_user, passwords={gateway_user: "gateway-secret"})
    main, health = free_port(), free_port()
    text = (DEPLOY / "compose" / "mosquitto.conf").read_text()
    text = text.replace("listener 1883\n", f"listener {main} 127.0.0.1\n")
    text = text.replace("listener 1880 127.0.0.1", f"listener {health} 127.0.0.1")
    text = text.replace("/mosquitto/auth/", f"{auth}/").replace("/mosquitto/data/", f"{tmp_path}/")
    text = text.replace("/mosquitto/config/health.acl", str(DEPLOY / "compose" / "health.acl"))
    assert "/mosquitto/" not in text
    # As root, Mosquitto would drop to its own user, which cannot read pytest's private tmp dirs.
    text += "user root\n"
    (tmp_path / "mosquitto.conf").write_text(text)
    proc = start_server(
        [binary, "-c", str(tmp_path / "mosquitto.conf")],
        tmp_path / "mosquitto.log",
        port_open(main),
        "mosquitto",
    )
    try:
        assert _connect(main) == "Not authorized"  # no user: refused
        assert _connect(main, gateway_user, "wrong") == "Not authorized"
        assert _connect(main, gateway_user, "gateway-secret") == "Success"
        # The compose healthcheck: mosquitto_sub where it is installed, the same subscription otherwise.
        check = [*_services()["mosquitto"]["healthcheck"]["test"][1:]]
        check = [str(health) if word == "1880" else word.replace("$$", "$") for word in check]
        assert check[check.index("-t") + 1] == "$SYS/broker/uptime"
        if shutil.which(check[0]):
            done = subprocess.run(check, capture_output=True, timeout=20)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip().endswith(b"seconds")
        else:
            assert _first_message(health, "$SYS/broker/uptime").endswith(b"seconds")
    finally:
        stop_process(proc)
