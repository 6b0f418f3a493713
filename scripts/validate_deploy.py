#!/usr/bin/env python3
"""Offline validation of agent-runner's deployment files.

Run it through scripts/validate-deploy, which prepares a pinned virtualenv. It
needs no Docker engine, no cluster and no network, and checks:

* docker-compose.yml - every service exists; long-running services have a
  healthcheck; depends_on uses service_healthy / service_completed_successfully;
  the worker can be scaled (no container_name, hostname or host ports) and stops
  within its grace period; required environment variables; the api and the
  worker receive the OpenTelemetry settings; referenced files.
* Dockerfile - the api, worker and cli targets exist, run as a non-root user on
  debian-slim, have an ENTRYPOINT, and api/worker a HEALTHCHECK.
* k8s/ - renders k8s/base, k8s/overlays/dev, k8s/overlays/prod and base plus
  each optional component (kubectl kustomize, or the built-in renderer below);
  validates every object against the Kubernetes OpenAPI schemas
  (kubernetes-validate, strict) and KEDA objects against k8s/schemas/; and checks
  the invariants the software relies on (grace periods covering the worker's
  whole shutdown, probe paths, replica ownership, KEDA's messages per worker =
  WORKER_CONCURRENCY, PDB selectors, Secret and ConfigMap references, image
  pinning, OpenTelemetry settings of the api and the worker, the dev overlay's
  own PostgreSQL and RabbitMQ and the Secret URLs that reach them...).
* the built-in renderer against kubectl kustomize (drift test), when kubectl is
  available.
* itself (--self-test): broken copies of the files must be rejected.

Every problem names the file, the object and the field. Exit status 0 means
everything passed.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit
from collections.abc import Iterable

try:
    import jsonschema
    import referencing
    import yaml
    from importlib.resources import files as package_files
except ImportError as exc:  # pragma: no cover - only without the venv
    sys.exit(f"validate_deploy: {exc}; run scripts/validate-deploy, which installs the dependencies")

ROOT = Path(__file__).resolve().parent.parent

#: Kubernetes version whose OpenAPI schemas the manifests must satisfy.
K8S_VERSION = os.environ.get("VALIDATE_DEPLOY_K8S_VERSION", "1.30.0")
NAMESPACE = "agent-runner"
APP_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/part-of")
API_DEPLOYMENT = "agent-runner-api"
WORKER_DEPLOYMENT = "agent-runner-worker"
MIGRATE_JOB = "agent-runner-migrate"
CONFIG_MAP = "agent-runner-config"
SECRET = "agent-runner-secrets"
#: Documents the keys of the externally managed Secret (not rendered).
SECRET_EXAMPLE = "k8s/base/secret.example.yaml"
RABBITMQ_CONF = "deploy/rabbitmq/rabbitmq.conf"
ENABLED_PLUGINS = "deploy/rabbitmq/enabled_plugins"
#: Seconds the api needs after SHUTDOWN_GRACE_S to stop its background tasks and exit.
SHUTDOWN_MARGIN_S = 5
#: Where the worker's shutdown steps are bounded, read (not copied) below.
WORKER_RS = Path(__file__).resolve().parent.parent / "services/worker/src/worker.rs"
TELEMETRY_EXPORT_RS = Path(__file__).resolve().parent.parent / "shared/telemetry/src/otlp_http_client.rs"
#: The steps of the worker's shutdown bounded by STOP_STEP, in the order of
#: services/worker/src/worker.rs; a step added there must be named here.
WORKER_STOP_STEPS = (
    "stop consuming",
    "deregister the worker",
    "stop the heartbeat, cancel listener and probe server",
    "close the RabbitMQ connection",
)


def rust_duration_s(path: Path, name: str) -> int:
    """The seconds of `const NAME: Duration = Duration::from_secs(N);` in `path`."""
    match = re.search(rf"const {name}: Duration = Duration::from_secs\((\d+)\);", path.read_text())
    if match is None:
        raise SystemExit(f"validate-deploy: {path} has no `const {name}: Duration = Duration::from_secs(N)`")
    return int(match.group(1))


def worker_shutdown_steps_s() -> tuple[tuple[str, int], ...]:
    """The worker's shutdown after SIGTERM besides SHUTDOWN_GRACE_S (the drain
    of in-flight runs), step by step, with the bounds the code gives them:
    STOP_STEP and HAND_BACK_WAIT in services/worker/src/worker.rs, the span
    exporter's EXPORT_TIMEOUT in shared/telemetry. The span flush is counted
    even where export is off, so turning it on needs no other change."""
    source = WORKER_RS.read_text()
    stop_step = rust_duration_s(WORKER_RS, "STOP_STEP")
    bounded = source.count("timeout(STOP_STEP,")
    if bounded != len(WORKER_STOP_STEPS):
        raise SystemExit(f"validate-deploy: {WORKER_RS} bounds {bounded} shutdown steps by STOP_STEP; "
                         f"WORKER_STOP_STEPS names {len(WORKER_STOP_STEPS)}: name the new one")
    steps = [(what, stop_step) for what in WORKER_STOP_STEPS]
    steps.insert(1, ("hand the runs still executing back to RabbitMQ", rust_duration_s(WORKER_RS, "HAND_BACK_WAIT")))
    steps.append(("flush buffered spans", rust_duration_s(TELEMETRY_EXPORT_RS, "EXPORT_TIMEOUT")))
    return tuple(steps)


WORKER_SHUTDOWN_STEPS_S = worker_shutdown_steps_s()
#: Worst case of the above: a worker exits within SHUTDOWN_GRACE_S + this.
WORKER_SHUTDOWN_OVERHEAD_S = sum(seconds for _, seconds in WORKER_SHUTDOWN_STEPS_S)


def worker_shutdown_s(grace: int) -> int:
    """Longest a worker can take from SIGTERM to exit with SHUTDOWN_GRACE_S=grace."""
    return grace + WORKER_SHUTDOWN_OVERHEAD_S

CLUSTER_SCOPED_KINDS = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass", "ClusterTriggerAuthentication",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
#: Images built from this repository (the Dockerfile's api and worker targets).
OWN_IMAGES = ("agent-runner-api", "agent-runner-worker")


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------

@dataclass
class Report:
    """Collects problems (which fail the run) and the list of checks that ran."""

    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def ran(self, what: str) -> None:
        self.checks.append(what)

    def extend(self, other: Report) -> None:
        self.problems.extend(other.problems)
        self.checks.extend(other.checks)


#: libyaml's loader when PyYAML has it (several times faster), else pure Python.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_text(text: str) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=YAML_LOADER) if doc is not None]


def load_yaml_file(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=YAML_LOADER)


def load_yaml_docs(path: Path) -> list[dict]:
    return load_yaml_text(path.read_text(encoding="utf-8"))


def rel(root: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------
# docker-compose.yml
# --------------------------------------------------------------------------

COMPOSE_FILE = "docker-compose.yml"
COMPOSE_SERVICES = ("postgres", "rabbitmq", "migrate", "api", "worker")
COMPOSE_LONG_RUNNING = ("postgres", "rabbitmq", "api", "worker")
COMPOSE_DEPENDS_ON = {
    "migrate": {"postgres": "service_healthy"},
    "api": {
        "migrate": "service_completed_successfully",
        "postgres": "service_healthy",
        "rabbitmq": "service_healthy",
    },
    "worker": {
        "migrate": "service_completed_successfully",
        "postgres": "service_healthy",
        "rabbitmq": "service_healthy",
    },
}
COMPOSE_REQUIRED_ENV = {
    "migrate": ("DATABASE_URL",),
    "api": ("DATABASE_URL", "AMQP_URL", "API_ADDR", "QUEUE_PREFIX"),
    "worker": (
        "DATABASE_URL", "AMQP_URL", "QUEUE_PREFIX", "WORKER_CONCURRENCY",
        "WORKER_METRICS_ADDR", "SHUTDOWN_GRACE_S", "WORKSPACE_ROOT", "LLM_BASE_URL",
    ),
}


def compose_env(service: dict) -> dict[str, str]:
    """The service's environment as a dict (compose accepts a map or KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {pair[0]: (pair[1] if len(pair) > 1 else "") for pair in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def parse_duration_s(text: str) -> float:
    """Seconds in a compose duration such as '45s', '1m30s' or '500ms'."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


def check_compose_services(compose: dict, report: Report) -> None:
    services = compose.get("services") or {}
    for name in COMPOSE_SERVICES:
        if name not in services:
            report.fail(COMPOSE_FILE, f"services.{name} is missing")
    report.ran(f"compose: services {', '.join(COMPOSE_SERVICES)} exist")


def check_compose_healthchecks(compose: dict, report: Report) -> None:
    services = compose.get("services") or {}
    for name in COMPOSE_LONG_RUNNING:
        check = (services.get(name) or {}).get("healthcheck")
        where = f"{COMPOSE_FILE}: services.{name}.healthcheck"
        if not check:
            report.fail(where, "missing; every long-running service needs one")
        elif check.get("disable") or check.get("test") in (None, [], ["NONE"], "NONE"):
            report.fail(where, "has no test command")
    report.ran("compose: long-running services have healthchecks")


def check_compose_depends_on(compose: dict, report: Report) -> None:
    services = compose.get("services") or {}
    for name, wanted in COMPOSE_DEPENDS_ON.items():
        depends = (services.get(name) or {}).get("depends_on") or {}
        if isinstance(depends, list):
            depends = {dep: {"condition": "service_started"} for dep in depends}
        for dep, condition in wanted.items():
            where = f"{COMPOSE_FILE}: services.{name}.depends_on.{dep}"
            if dep not in depends:
                report.fail(where, f"missing; {name} must wait for {dep} ({condition})")
                continue
            actual = (depends[dep] or {}).get("condition", "service_started")
            if actual != condition:
                report.fail(where, f"condition is {actual}, expected {condition}")
    report.ran("compose: depends_on conditions (service_healthy, service_completed_successfully)")


#: Settings both the api and the worker use to declare the queue topology.
TOPOLOGY_ENV = ("QUEUE_PREFIX", "RETRY_BASE_MS", "RETRY_TIERS", "DELIVERY_LIMIT")


def check_compose_topology_agrees(compose: dict, report: Report) -> None:
    """api and worker declare the same queues; RabbitMQ rejects differing arguments."""
    services = compose.get("services") or {}
    api_env = compose_env(services.get("api") or {})
    worker_env = compose_env(services.get("worker") or {})
    for key in TOPOLOGY_ENV:
        if api_env.get(key) != worker_env.get(key):
            report.fail(f"{COMPOSE_FILE}: services.worker.environment.{key}",
                        f"{worker_env.get(key)!r} differs from the api's {api_env.get(key)!r}; both declare the "
                        "queue topology and must agree")
    report.ran(f"compose: api and worker agree on the queue topology ({', '.join(TOPOLOGY_ENV)})")


def check_compose_env(compose: dict, report: Report) -> None:
    services = compose.get("services") or {}
    for name, keys in COMPOSE_REQUIRED_ENV.items():
        env = compose_env(services.get(name) or {})
        for key in keys:
            if not env.get(key):
                report.fail(f"{COMPOSE_FILE}: services.{name}.environment.{key}", "missing or empty")
    for name, key in (("api", "API_ADDR"), ("worker", "WORKER_METRICS_ADDR")):
        value = compose_env(services.get(name) or {}).get(key, "")
        if value and not value.startswith("0.0.0.0:"):
            report.fail(f"{COMPOSE_FILE}: services.{name}.environment.{key}",
                        f"{value!r} must bind 0.0.0.0 inside a container")
    report.ran("compose: required environment on migrate, api and worker")


def check_compose_worker_scalable(compose: dict, report: Report) -> None:
    worker = (compose.get("services") or {}).get("worker") or {}
    where = f"{COMPOSE_FILE}: services.worker"
    for key, why in (
        ("container_name", "a fixed name prevents --scale worker=N"),
        ("ports", "published host ports collide with --scale worker=N (use expose)"),
        ("hostname", "every replica would get the same WORKER_ID"),
    ):
        if key in worker:
            report.fail(f"{where}.{key}", why)
    if worker.get("network_mode") == "host":
        report.fail(f"{where}.network_mode", "host networking collides with --scale worker=N")
    if "WORKER_ID" in compose_env(worker):
        report.fail(f"{where}.environment.WORKER_ID", "a fixed id would be shared by every replica")
    check_compose_stop_grace(compose, "worker", WORKER_SHUTDOWN_OVERHEAD_S, report)
    report.ran(f"compose: worker is scalable and stops within its grace period (SHUTDOWN_GRACE_S + "
               f"{WORKER_SHUTDOWN_OVERHEAD_S}s worst case)")


def check_compose_stop_grace(compose: dict, name: str, overhead_s: int, report: Report) -> None:
    """Docker sends SIGKILL stop_grace_period after SIGTERM: it must outlast the
    drain (SHUTDOWN_GRACE_S) and the `overhead_s` the process needs after it."""
    service = (compose.get("services") or {}).get(name) or {}
    where = f"{COMPOSE_FILE}: services.{name}.stop_grace_period"
    grace = int(compose_env(service).get("SHUTDOWN_GRACE_S") or 30)
    stop = service.get("stop_grace_period")
    if stop is None:
        report.fail(where, f"missing; the default 10s is below SHUTDOWN_GRACE_S={grace}")
        return
    try:
        seconds = parse_duration_s(stop)
    except ValueError as exc:
        report.fail(where, str(exc))
        return
    if seconds < grace + overhead_s:
        report.fail(where, f"{stop} must be at least SHUTDOWN_GRACE_S={grace}s + {overhead_s}s = "
                           f"{grace + overhead_s}s, the longest {name} shutdown")


def check_compose_api_stops(compose: dict, report: Report) -> None:
    check_compose_stop_grace(compose, "api", SHUTDOWN_MARGIN_S, report)
    report.ran("compose: api stops within its grace period (in-flight requests drain for SHUTDOWN_GRACE_S)")


def compose_bind_sources(service: dict) -> list[str]:
    sources = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                sources.append(source)
        elif isinstance(volume, dict) and volume.get("type") == "bind":
            sources.append(volume.get("source", ""))
    return sources


def check_compose_files(root: Path, compose: dict, report: Report) -> None:
    services = compose.get("services") or {}
    for name, service in services.items():
        service = service or {}
        build = service.get("build")
        if build:
            build = {"context": build} if isinstance(build, str) else build
            context = root / build.get("context", ".")
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if not context.is_dir():
                report.fail(f"{COMPOSE_FILE}: services.{name}.build.context", f"{rel(root, context)} does not exist")
            if not dockerfile.is_file():
                report.fail(f"{COMPOSE_FILE}: services.{name}.build.dockerfile",
                            f"{rel(root, dockerfile)} does not exist")
            elif build.get("target") and build["target"] not in dockerfile_stages(dockerfile.read_text()):
                report.fail(f"{COMPOSE_FILE}: services.{name}.build.target",
                            f"{build['target']!r} is not a stage of {rel(root, dockerfile)}")
        for source in compose_bind_sources(service):
            if not (root / source).exists():
                report.fail(f"{COMPOSE_FILE}: services.{name}.volumes", f"{source} does not exist")
    mounted = {os.path.normpath(s) for s in compose_bind_sources(services.get("rabbitmq") or {})}
    for wanted in (RABBITMQ_CONF, ENABLED_PLUGINS):
        if wanted not in mounted:
            report.fail(f"{COMPOSE_FILE}: services.rabbitmq.volumes", f"must mount ./{wanted}")
    report.ran("compose: build contexts, Dockerfile targets and mounted files exist")


# --------------------------------------------------------------------------
# OpenTelemetry settings (shared/telemetry reads them in both binaries)
# --------------------------------------------------------------------------

#: Base URL of the OTLP collector; empty exports nothing.
OTEL_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
#: http/protobuf (empty: the default) or grpc.
OTEL_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_PROTOCOLS = ("", "http/protobuf", "grpc")
#: Service name on the exported spans; the api's and the worker's must differ.
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
#: Headers (a collector's credentials) sent with every export.
OTEL_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"


def otlp_endpoint_problem(value: str, protocol: str = "") -> str | None:
    """Why an OTEL_EXPORTER_OTLP_ENDPOINT value would not reach a collector over
    `protocol` (OTEL_EXPORTER_OTLP_PROTOCOL); None if it would (or is empty)."""
    value = value.strip()
    if not value:
        return None
    match = re.fullmatch(r"https?://[^/:\s]+(?::(\d+))?(/\S*)?", value)
    if not match:
        return f"{value!r} must be an http:// or https:// base URL, or empty"
    if (match.group(2) or "").rstrip("/").endswith("/v1/traces"):
        return f"{value!r} must be the collector's base URL: the exporter appends /v1/traces"
    grpc = protocol.strip() == "grpc"
    if match.group(1) == "4317" and not grpc:
        return (f"{value!r} is the OTLP/gRPC port; set {OTEL_PROTOCOL}=grpc, or use the OTLP/HTTP port "
                "(4318)")
    if match.group(1) == "4318" and grpc:
        return f"{value!r} is the OTLP/HTTP port, but {OTEL_PROTOCOL} is grpc (4317)"
    return None


def compose_default(value: str) -> str:
    """A compose value as it reaches the container when the shell sets nothing:
    ${VAR:-default} and ${VAR-default} give the default, ${VAR} gives ''."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


def check_otel_settings(envs: dict[str, dict[str, str | None]], where: Callable[[str], str],
                        report: Report) -> None:
    """envs: the api's and the worker's environment (None: a value from valueFrom).

    Both must receive OTEL_EXPORTER_OTLP_ENDPOINT (possibly empty, so export is
    turned on in one place), the same one, and each its own OTEL_SERVICE_NAME;
    and OTEL_EXPORTER_OTLP_HEADERS, from a Secret or the shell (None or empty
    here), never a credential written into the deploy files."""
    for name, env in envs.items():
        if OTEL_HEADERS not in env:
            report.fail(where(name), f"{OTEL_HEADERS} is not passed; pass it from the Secret (or the shell) "
                                     "so a collector that wants a key gets it from both")
        elif env[OTEL_HEADERS]:
            report.fail(where(name), f"{OTEL_HEADERS} is written into the deploy files; it holds credentials: "
                                     "take it from a Secret (or the shell)")
        protocol = env.get(OTEL_PROTOCOL) or ""
        if OTEL_PROTOCOL not in env:
            report.fail(where(name), f"{OTEL_PROTOCOL} is not passed; set it (empty: http/protobuf) so "
                                     "the api and the workers speak to the collector alike")
        elif protocol.strip() not in OTEL_PROTOCOLS:
            report.fail(where(name), f"{OTEL_PROTOCOL} {protocol!r} is not one of http/protobuf, grpc")
        if OTEL_ENDPOINT not in env:
            report.fail(where(name), f"{OTEL_ENDPOINT} is not passed; set it (empty exports nothing) so "
                                     "span export is turned on in one place")
        elif env[OTEL_ENDPOINT] is not None and (
                problem := otlp_endpoint_problem(env[OTEL_ENDPOINT], protocol)):
            report.fail(where(name), f"{OTEL_ENDPOINT}: {problem}")
        if OTEL_SERVICE_NAME not in env or env[OTEL_SERVICE_NAME] == "":
            report.fail(where(name), f"{OTEL_SERVICE_NAME} is missing or empty")
    api, worker = envs.get("api", {}), envs.get("worker", {})
    if OTEL_ENDPOINT in api and OTEL_ENDPOINT in worker and api[OTEL_ENDPOINT] != worker[OTEL_ENDPOINT]:
        report.fail(where("worker"), f"{OTEL_ENDPOINT} {worker[OTEL_ENDPOINT]!r} differs from the api's "
                                     f"{api[OTEL_ENDPOINT]!r}; one trace spans both")
    if OTEL_PROTOCOL in api and OTEL_PROTOCOL in worker and api[OTEL_PROTOCOL] != worker[OTEL_PROTOCOL]:
        report.fail(where("worker"), f"{OTEL_PROTOCOL} {worker[OTEL_PROTOCOL]!r} differs from the api's "
                                     f"{api[OTEL_PROTOCOL]!r}")
    if api.get(OTEL_SERVICE_NAME) and api.get(OTEL_SERVICE_NAME) == worker.get(OTEL_SERVICE_NAME):
        report.fail(where("worker"), f"{OTEL_SERVICE_NAME} {worker[OTEL_SERVICE_NAME]!r} is the api's too; "
                                     "their spans must be told apart")


def check_compose_otel(compose: dict, report: Report) -> None:
    services = compose.get("services") or {}
    envs: dict[str, dict[str, str | None]] = {}
    for name in ("api", "worker"):
        env = compose_env(services.get(name) or {})
        envs[name] = {key: env[key] for key in (OTEL_ENDPOINT, OTEL_PROTOCOL, OTEL_SERVICE_NAME, OTEL_HEADERS)
                      if key in env}
        for key in (OTEL_ENDPOINT, OTEL_PROTOCOL, OTEL_HEADERS):
            if key in envs[name]:
                # Compare and check the value the container gets with nothing set in the shell.
                envs[name][key] = compose_default(env[key])
    check_otel_settings(envs, lambda name: f"{COMPOSE_FILE}: services.{name}.environment", report)
    report.ran(f"compose: api and worker receive {OTEL_ENDPOINT} (one collector), {OTEL_HEADERS} from the "
               f"shell and their own {OTEL_SERVICE_NAME}")


def check_compose(root: Path, report: Report) -> None:
    path = root / COMPOSE_FILE
    if not path.is_file():
        report.fail(COMPOSE_FILE, "does not exist")
        return
    compose = load_yaml_file(path) or {}
    check_compose_services(compose, report)
    check_compose_healthchecks(compose, report)
    check_compose_depends_on(compose, report)
    check_compose_env(compose, report)
    check_compose_topology_agrees(compose, report)
    check_compose_otel(compose, report)
    check_compose_worker_scalable(compose, report)
    check_compose_api_stops(compose, report)
    check_compose_files(root, compose, report)
    worker_env = compose_env((compose.get("services") or {}).get("worker") or {})
    check_consumer_timeout(root, worker_env, f"{COMPOSE_FILE}: services.worker.environment", report)


# --------------------------------------------------------------------------
# RabbitMQ configuration
# --------------------------------------------------------------------------

def rabbitmq_conf_setting(text: str, key: str) -> str | None:
    """A setting of a rabbitmq.conf (sysctl format) text; None if unset."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            if name == key:
                return value
    return None


def rabbitmq_setting(root: Path, key: str) -> str | None:
    path = root / RABBITMQ_CONF
    return rabbitmq_conf_setting(path.read_text(), key) if path.is_file() else None


def check_consumer_timeout(root: Path, env: dict[str, str], where: str, report: Report,
                           conf_text: str | None = None, conf_where: str = RABBITMQ_CONF) -> None:
    """A run's delivery stays unacked for the whole run: consumer_timeout must outlast it.
    conf_text: the rabbitmq.conf to check (default: the shipped one, RABBITMQ_CONF)."""
    timeout = (rabbitmq_setting(root, "consumer_timeout") if conf_text is None
               else rabbitmq_conf_setting(conf_text, "consumer_timeout"))
    if timeout is None:
        report.fail(conf_where, "consumer_timeout is not set")
        return
    longest_s = int(env.get("RUN_TIMEOUT_MAX_S") or 3600) + int(env.get("SHUTDOWN_GRACE_S") or 30)
    if not timeout.isdigit() or int(timeout) <= longest_s * 1000:
        report.fail(f"{conf_where}: consumer_timeout",
                    f"{timeout} ms must exceed RUN_TIMEOUT_MAX_S + SHUTDOWN_GRACE_S = {longest_s} s "
                    f"({where})")
    report.ran(f"rabbitmq: consumer_timeout of {conf_where} outlasts the longest run ({where})")


# --------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------

DOCKERFILE = "Dockerfile"
DOCKER_TARGETS = {
    "api": {"entrypoint": "agent-runner-api", "healthcheck": "agent-runner-api", "expose": "8080"},
    "worker": {"entrypoint": "agent-runner-worker", "healthcheck": "agent-runner-worker", "expose": "9090",
               "packages": ("git",)},
    "cli": {"entrypoint": "agent-runner"},
}


@dataclass
class Stage:
    """One FROM ... AS name section of a Dockerfile."""

    name: str
    base: str
    instructions: list[tuple[str, str]]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, args = line.partition(" ")
            out.append((word.upper(), args.strip()))
    return out


def dockerfile_stages(text: str) -> dict[str, Stage]:
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for word, rest in dockerfile_instructions(text):
        if word == "ARG" and current is None:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif word == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest.split()[0])
            match = re.search(r"\s+AS\s+(\S+)", rest, re.IGNORECASE)
            current = Stage(match.group(1) if match else f"stage{len(stages)}", base, [])
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((word, rest))
    return stages


def stage_chain(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, nearest first."""
    chain = []
    while name in stages and len(chain) <= len(stages):
        chain.append(stages[name])
        name = stages[name].base
    return chain


def check_dockerfile_target(stages: dict[str, Stage], target: str, spec: dict, report: Report) -> None:
    where = f"{DOCKERFILE}: stage {target}"
    chain = stage_chain(stages, target)
    image = chain[-1].base
    if not re.fullmatch(r"debian:[a-z]+-slim", image):
        report.fail(where, f"final image is built on {image}, expected debian:<release>-slim")
    instructions = [ins for stage in reversed(chain) for ins in stage.instructions]
    users = [args for word, args in instructions if word == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        report.fail(f"{where}: USER", "must switch to a non-root user")
    entrypoints = [args for word, args in instructions if word == "ENTRYPOINT"]
    if not entrypoints or spec["entrypoint"] not in entrypoints[-1]:
        report.fail(f"{where}: ENTRYPOINT", f"must run {spec['entrypoint']}")
    if "healthcheck" in spec:
        checks = [args for word, args in instructions if word == "HEALTHCHECK"]
        command = rf'{re.escape(spec["healthcheck"])}"?\s*,?\s*"?healthcheck\b'
        if not checks or not re.search(command, checks[-1]):
            report.fail(f"{where}: HEALTHCHECK", f"must run `{spec['healthcheck']} healthcheck`")
    if "expose" in spec:
        exposed = " ".join(args for word, args in instructions if word == "EXPOSE").split()
        if spec["expose"] not in exposed:
            report.fail(f"{where}: EXPOSE", f"must expose {spec['expose']}")
    runs = " ".join(args for word, args in instructions if word == "RUN")
    for package in spec.get("packages", ()):
        if not re.search(rf"apt-get install[^&;]*\s{package}(\s|$)", runs):
            report.fail(f"{where}: RUN", f"must install {package}")
    if re.search(r"\b(build-essential|cargo|rustc|gcc)\b", runs):
        report.fail(f"{where}: RUN", "installs build tools in a runtime image")


def check_dockerfile(root: Path, report: Report) -> None:
    path = root / DOCKERFILE
    if not path.is_file():
        report.fail(DOCKERFILE, "does not exist")
        return
    stages = dockerfile_stages(path.read_text())
    builders = [stage for stage in stages.values() if stage.base.startswith("rust:")]
    if not builders or not any("cargo build --release --bins" in args
                               for stage in builders for _, args in stage.instructions):
        report.fail(DOCKERFILE, "needs a rust:<version> builder stage running `cargo build --release --bins`")
    for target, spec in DOCKER_TARGETS.items():
        if target not in stages:
            report.fail(DOCKERFILE, f"target {target!r} is missing")
        else:
            check_dockerfile_target(stages, target, spec, report)
    ignore = root / ".dockerignore"
    patterns = ignore.read_text().split() if ignore.is_file() else []
    for wanted in ("target", ".git", ".run"):
        if not any(p.strip("/") == wanted for p in patterns):
            report.fail(".dockerignore", f"must exclude {wanted}/")
    report.ran("Dockerfile: targets api, worker, cli on debian-slim, non-root, ENTRYPOINT, HEALTHCHECK")


# --------------------------------------------------------------------------
# kustomize rendering
# --------------------------------------------------------------------------

class RenderError(Exception):
    """A kustomization could not be rendered."""


class UnsupportedFeature(RenderError):
    """The built-in renderer does not implement a kustomize feature a file uses."""


def identity(obj: dict) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("apiVersion")), str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))


def api_group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def render_kubectl(kubectl: str, directory: Path) -> list[dict]:
    proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RenderError(proc.stderr.strip() or f"kubectl kustomize exited {proc.returncode}")
    return load_yaml_text(proc.stdout)


def kubectl_usable(kubectl: str | None) -> str | None:
    """kubectl if it embeds kustomize v4+ (components, labels); None otherwise."""
    if not kubectl:
        return None
    try:
        proc = subprocess.run([kubectl, "version", "--client", "-o", "json"],
                              capture_output=True, text=True, check=False, timeout=30)
        version = json.loads(proc.stdout).get("kustomizeVersion", "")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v(\d+)", version)
    return kubectl if match and int(match.group(1)) >= 4 else None


# The built-in renderer: exactly the kustomize features k8s/ uses. Anything else
# raises UnsupportedFeature instead of rendering something subtly different; the
# drift test compares it with kubectl kustomize on every target.

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "labels", "resources", "components", "images", "patches"}
#: Strategic-merge keys of the lists the patches touch, for built-in kinds.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name",
}
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io"}
TEMPLATE_LABEL_PATHS = {
    **{kind: (("spec", "template", "metadata", "labels"),) for kind in WORKLOAD_KINDS | {"ReplicationController"}},
    "CronJob": (("spec", "jobTemplate", "metadata", "labels"),
                ("spec", "jobTemplate", "spec", "template", "metadata", "labels")),
}


def load_kustomization(directory: Path) -> dict:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            data = load_yaml_file(path) or {}
            unknown = set(data) - SUPPORTED_FIELDS
            if unknown:
                raise UnsupportedFeature(f"{path}: built-in renderer does not support {sorted(unknown)}")
            return data
    raise RenderError(f"{directory}: no kustomization file")


def render_builtin(directory: Path) -> list[dict]:
    kustomization = load_kustomization(directory)
    if kustomization.get("kind", "Kustomization") != "Kustomization":
        raise RenderError(f"{directory}: a {kustomization.get('kind')} cannot be built on its own")
    return accumulate(directory, kustomization, [])


def accumulate(directory: Path, kustomization: dict, objects: list[dict]) -> list[dict]:
    """Resources, then components, then this kustomization's transformers."""
    objects = list(objects)
    for entry in kustomization.get("resources") or []:
        path = directory / entry
        objects.extend(render_builtin(path) if path.is_dir() else load_yaml_docs(path))
    seen: set = set()
    for obj in objects:
        if identity(obj) in seen:
            raise RenderError(f"{directory}: duplicate object {identity(obj)}")
        seen.add(identity(obj))
    for entry in kustomization.get("components") or []:
        component_dir = directory / entry
        component = load_kustomization(component_dir)
        if component.get("kind") != "Component":
            raise RenderError(f"{component_dir}: components must be kind Component")
        objects = accumulate(component_dir, component, objects)
    return transform(directory, kustomization, objects)


def transform(directory: Path, kustomization: dict, objects: list[dict]) -> list[dict]:
    objects = copy.deepcopy(objects)
    for patch in kustomization.get("patches") or []:
        apply_patch_file(directory, patch, objects)
    if kustomization.get("namespace"):
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED_KINDS:
                obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    for label_set in kustomization.get("labels") or []:
        apply_labels(label_set, objects)
    for image in kustomization.get("images") or []:
        for obj in objects:
            set_images(obj, image)
    return objects


def apply_patch_file(directory: Path, patch: dict, objects: list[dict]) -> None:
    if set(patch) != {"path"}:
        raise UnsupportedFeature(f"{directory}: built-in renderer supports only `patches: - path: <file>`")
    for doc in load_yaml_docs(directory / patch["path"]):
        meta = doc.get("metadata") or {}
        matches = [obj for obj in objects
                   if obj.get("kind") == doc.get("kind")
                   and api_group(str(obj.get("apiVersion"))) == api_group(str(doc.get("apiVersion")))
                   and obj["metadata"].get("name") == meta.get("name")
                   and (not meta.get("namespace") or obj["metadata"].get("namespace") == meta["namespace"])]
        if len(matches) != 1:
            raise RenderError(f"{directory / patch['path']}: patch matches {len(matches)} objects, expected 1")
        target = matches[0]
        builtin = api_group(str(target.get("apiVersion"))) in BUILTIN_GROUPS
        strategic_merge(target, {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}, builtin)


def strategic_merge(target: dict, patch: dict, builtin: bool) -> None:
    """Strategic merge patch: maps merge, null deletes, keyed lists merge by key."""
    for key, value in patch.items():
        if isinstance(key, str) and key.startswith("$"):
            raise UnsupportedFeature(f"patch directive {key} is not supported")
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic_merge(target[key], value, builtin)
        elif isinstance(value, list) and isinstance(target.get(key), list) and builtin and merge_key(key, value):
            merge_list(target[key], value, merge_key(key, value), builtin)
        else:
            target[key] = copy.deepcopy(value)


def merge_key(field_name: str, items: list) -> str | None:
    if field_name == "ports" and items and isinstance(items[0], dict):
        return "containerPort" if "containerPort" in items[0] else "port"
    return MERGE_KEYS.get(field_name)


def merge_list(target: list, patch: list, key: str, builtin: bool) -> None:
    for item in patch:
        existing = next((t for t in target if isinstance(t, dict) and t.get(key) == item.get(key)), None)
        if existing is None:
            target.append(copy.deepcopy(item))
        else:
            strategic_merge(existing, item, builtin)


def apply_labels(label_set: dict, objects: list[dict]) -> None:
    if label_set.get("includeSelectors"):
        raise UnsupportedFeature("labels.includeSelectors: true is not supported by the built-in renderer")
    pairs = label_set.get("pairs") or {}
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        if label_set.get("includeTemplates"):
            for path in TEMPLATE_LABEL_PATHS.get(obj.get("kind"), ()):
                node = obj
                for part in path:
                    node = node.setdefault(part, {})
                node.update(pairs)


def split_image(reference: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference; the registry may carry a port."""
    name, _, digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, digest


def set_images(node: Any, image: dict) -> None:
    """The images transformer: rewrite every container image whose name matches."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        container["image"] = new_image(container["image"], image)
            else:
                set_images(value, image)
    elif isinstance(node, list):
        for item in node:
            set_images(item, image)


def new_image(reference: str, image: dict) -> str:
    name, tag, digest = split_image(reference)
    if name != image.get("name"):
        return reference
    name = image.get("newName", name)
    if image.get("digest"):
        return f"{name}@{image['digest']}"
    if image.get("newTag") is not None:
        return f"{name}:{image['newTag']}"
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


@dataclass
class Target:
    """One kustomize target to render and check, with what it must contain."""

    name: str
    path: str
    #: Replica counts the target pins (Deployment name -> replicas).
    replicas: dict[str, int] = field(default_factory=dict)
    #: Autoscaler kind that must own the worker replica count, if any.
    autoscaler: str | None = None
    min_workers: int | None = None
    log_format: str | None = None
    image_tag: str | None = None
    pinned_images: bool = False
    #: Renders its own PostgreSQL and RabbitMQ (and the Secret pointing at them).
    datastores: bool = False
    #: Synthetic targets are kustomizations generated by the validator.
    synthetic: dict | None = None


TARGETS = (
    Target("base", "k8s/base", replicas={API_DEPLOYMENT: 2, WORKER_DEPLOYMENT: 2}),
    Target("dev", "k8s/overlays/dev", replicas={API_DEPLOYMENT: 1, WORKER_DEPLOYMENT: 1},
           log_format="text", image_tag="dev", datastores=True),
    Target("prod", "k8s/overlays/prod", replicas={API_DEPLOYMENT: 3}, autoscaler="ScaledObject",
           min_workers=4, log_format="json", pinned_images=True),
    Target("base+keda", "target/validate-deploy/base+keda", autoscaler="ScaledObject",
           synthetic={"component": "k8s/components/keda"}),
    Target("base+hpa", "target/validate-deploy/base+hpa", autoscaler="HorizontalPodAutoscaler",
           synthetic={"component": "k8s/components/hpa"}),
)


def write_synthetic(root: Path, target: Target) -> None:
    """A kustomization that applies one optional component to the base."""
    directory = root / target.path
    directory.mkdir(parents=True, exist_ok=True)
    up = os.path.relpath(root, directory)
    (directory / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": [f"{up}/k8s/base"],
        "components": [f"{up}/{target.synthetic['component']}"],
    }))


def render(root: Path, target: Target, kubectl: str | None) -> list[dict]:
    if target.synthetic:
        write_synthetic(root, target)
    directory = root / target.path
    return render_kubectl(kubectl, directory) if kubectl else render_builtin(directory)


def kustomization_files(directory: Path, seen: set[Path] | None = None) -> set[Path]:
    """Every resource and patch file a kustomization pulls in, recursively."""
    seen = set() if seen is None else seen
    path = next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)
    if path is None or directory.resolve() in seen:
        return set()
    seen.add(directory.resolve())
    data = load_yaml_file(path) or {}
    found: set[Path] = set()
    for entry in (data.get("resources") or []) + (data.get("components") or []):
        entry_path = directory / entry
        found |= kustomization_files(entry_path, seen) if entry_path.is_dir() else {entry_path.resolve()}
    for patch in data.get("patches") or []:
        if isinstance(patch, dict) and patch.get("path"):
            found.add((directory / patch["path"]).resolve())
    return found


def source_index(root: Path, directory: Path) -> dict[tuple[str, str], list[str]]:
    """(kind, name) -> the files of one target that define or patch it, for messages."""
    index: dict[tuple[str, str], list[str]] = {}
    try:
        paths = sorted(kustomization_files(directory))
    except (OSError, yaml.YAMLError):
        return index
    for path in paths:
        try:
            docs = load_yaml_docs(path)
        except (OSError, yaml.YAMLError):
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") and (doc.get("metadata") or {}).get("name"):
                index.setdefault((doc["kind"], doc["metadata"]["name"]), []).append(rel(root, path))
    return index


# --------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------

class Schemas:
    """Validators for built-in kinds (kubernetes-validate's strict schemas) and
    for KEDA kinds (k8s/schemas/*.json), built once and reused."""

    def __init__(self, root: Path, version: str):
        base = package_files("kubernetes_validate") / "kubernetes-json-schema"
        directory = base / f"v{version}-local-strict"
        if not directory.is_dir():
            known = sorted(p.name for p in base.iterdir())
            raise SystemExit(f"kubernetes-validate has no schemas for {version}; it has {known[:3]}...{known[-3:]}")
        self.version = version
        self.directory = directory
        definitions = referencing.Resource.from_contents(json.loads((directory / "_definitions.json").read_text()))
        self.registry = definitions @ referencing.Registry()
        self.validators: dict[tuple[str, str], Any] = {}
        self.custom: dict[tuple[str, str], Any] = {}
        self.trigger_metadata: dict[str, Any] = {}
        for path in sorted((root / "k8s" / "schemas").glob("*.json")):
            schema = json.loads(path.read_text())
            validator = jsonschema.Draft202012Validator(schema)
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                self.custom[(f"{gvk['group']}/{gvk['version']}", gvk["kind"])] = validator
            if "x-keda-trigger-type" in schema:
                self.trigger_metadata[schema["x-keda-trigger-type"]] = validator

    def validator_for(self, obj: dict) -> Any | None:
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        if key in self.custom:
            return self.custom[key]
        if key not in self.validators:
            api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", key[0])
            path = self.directory / f"{key[1].lower()}-{api_version}.json"
            if not path.is_file():
                self.validators[key] = None
            else:
                schema = json.loads(path.read_text())
                self.validators[key] = jsonschema.Draft202012Validator(schema, registry=self.registry)
        return self.validators[key]

    def errors(self, obj: dict) -> list[str]:
        validator = self.validator_for(obj)
        if validator is None:
            return [f"no schema for {obj.get('apiVersion')} {obj.get('kind')} "
                    f"(Kubernetes {self.version} or k8s/schemas/)"]
        found = [format_schema_error(error) for error in validator.iter_errors(obj)]
        for index, trigger in enumerate((obj.get("spec") or {}).get("triggers") or []):
            checker = self.trigger_metadata.get(trigger.get("type")) if isinstance(trigger, dict) else None
            if checker:
                found += [format_schema_error(error, f"spec.triggers[{index}].metadata")
                          for error in checker.iter_errors(trigger.get("metadata") or {})]
        return sorted(found)


def format_schema_error(error: Any, prefix: str = "") -> str:
    path = prefix
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{path or '<root>'}: {error.message}"


# --------------------------------------------------------------------------
# Kubernetes invariants
# --------------------------------------------------------------------------

@dataclass
class Rendered:
    """A rendered target with lookups the checks share."""

    root: Path
    target: Target
    objects: list[dict]
    sources: dict[tuple[str, str], list[str]]
    external_secrets: dict[str, set[str]]

    def find(self, kind: str, name: str) -> dict | None:
        return next((o for o in self.objects if o.get("kind") == kind and o["metadata"].get("name") == name), None)

    def of_kind(self, *kinds: str) -> list[dict]:
        return [o for o in self.objects if o.get("kind") in kinds]

    def where(self, obj: dict | None, kind: str = "", name: str = "") -> str:
        kind = obj.get("kind") if obj else kind
        name = obj["metadata"].get("name") if obj else name
        files = self.sources.get((kind, name)) or ["?"]
        return f"{self.target.path} {kind}/{name} [{', '.join(files)}]"

    def config(self) -> dict[str, str]:
        config_map = self.find("ConfigMap", CONFIG_MAP) or {}
        return {k: str(v) for k, v in (config_map.get("data") or {}).items()}


def pod_spec(obj: dict) -> dict:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def pod_labels(obj: dict) -> dict:
    return ((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")) or {}


def container(obj: dict, name: str) -> dict:
    return next((c for c in pod_spec(obj).get("containers") or [] if c.get("name") == name), {})


def check_schemas(rendered: Rendered, schemas: Schemas, report: Report) -> None:
    for obj in rendered.objects:
        for error in schemas.errors(obj)[:8]:
            report.fail(rendered.where(obj), error)
    report.ran(f"{rendered.target.name}: {len(rendered.objects)} objects valid against "
               f"Kubernetes {schemas.version} (strict) and k8s/schemas")


def check_metadata(rendered: Rendered, report: Report) -> None:
    for obj in rendered.objects:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        if obj.get("kind") not in CLUSTER_SCOPED_KINDS and meta.get("namespace") != NAMESPACE:
            report.fail(rendered.where(obj), f"metadata.namespace is {meta.get('namespace')!r}, expected {NAMESPACE}")
        wanted = APP_LABELS + (("app.kubernetes.io/component",) if obj.get("kind") != "Namespace" else ())
        for label in wanted:
            if label not in labels:
                report.fail(rendered.where(obj), f"metadata.labels lacks {label}")
    report.ran(f"{rendered.target.name}: namespace {NAMESPACE} and app.kubernetes.io labels on every object")


#: ConfigMap keys the software reads, and the Secret keys each container needs.
REQUIRED_CONFIG = (
    "API_ADDR", "WORKER_METRICS_ADDR", "QUEUE_PREFIX", "WORKER_CONCURRENCY", "SHUTDOWN_GRACE_S",
    "RUN_TIMEOUT_MAX_S", "WORKSPACE_ROOT", "LOG_FORMAT", "RUST_LOG", "LLM_BASE_URL",
)
REQUIRED_CONTAINER_ENV = {
    ("Deployment", API_DEPLOYMENT, "api"): ("DATABASE_URL", "AMQP_URL"),
    ("Deployment", WORKER_DEPLOYMENT, "worker"): ("DATABASE_URL", "AMQP_URL", "WORKER_ID"),
    ("Job", MIGRATE_JOB, "migrate"): ("DATABASE_URL",),
}


def check_config(rendered: Rendered, report: Report) -> None:
    """The shared ConfigMap has every setting, and every container gets its credentials."""
    config_map = rendered.find("ConfigMap", CONFIG_MAP)
    if config_map is None:
        report.fail(rendered.where(None, "ConfigMap", CONFIG_MAP), "missing")
    else:
        for key in REQUIRED_CONFIG:
            if not rendered.config().get(key):
                report.fail(rendered.where(config_map), f"data.{key} is missing or empty")
    for (kind, name, container_name), keys in REQUIRED_CONTAINER_ENV.items():
        obj = rendered.find(kind, name)
        if obj is None:
            report.fail(rendered.where(None, kind, name), "missing")
            continue
        spec = container(obj, container_name)
        if not spec:
            report.fail(rendered.where(obj), f"spec.template.spec.containers has no container {container_name!r}")
            continue
        env = {e.get("name") for e in spec.get("env") or []}
        from_config = any((s.get("configMapRef") or {}).get("name") == CONFIG_MAP for s in spec.get("envFrom") or [])
        if not from_config:
            report.fail(rendered.where(obj), f"containers[{container_name}].envFrom must load ConfigMap {CONFIG_MAP}")
        for key in keys:
            if key not in env:
                report.fail(rendered.where(obj), f"containers[{container_name}].env lacks {key}")
    report.ran(f"{rendered.target.name}: ConfigMap settings and container credentials (DATABASE_URL, AMQP_URL)")


def addr_port(value: str) -> int | None:
    match = re.fullmatch(r"0\.0\.0\.0:(\d+)", value or "")
    return int(match.group(1)) if match else None


def probe_port(obj: dict, container_spec: dict, probe: dict) -> int | None:
    port = ((probe or {}).get("httpGet") or {}).get("port")
    if isinstance(port, int):
        return port
    return next((p.get("containerPort") for p in container_spec.get("ports") or [] if p.get("name") == port), None)


def check_probes(rendered: Rendered, deployment: str, name: str, expected: dict[str, str],
                 addr_key: str, report: Report) -> None:
    obj = rendered.find("Deployment", deployment)
    if obj is None:
        report.fail(rendered.where(None, "Deployment", deployment), "missing")
        return
    spec = container(obj, name)
    port = addr_port(rendered.config().get(addr_key, ""))
    if port is None:
        report.fail(rendered.where(None, "ConfigMap", CONFIG_MAP), f"data.{addr_key} must be 0.0.0.0:<port>")
    for probe_name, path in expected.items():
        probe = spec.get(probe_name)
        field_path = f"spec.template.spec.containers[{name}].{probe_name}"
        if not probe:
            report.fail(rendered.where(obj), f"{field_path} is missing")
            continue
        actual = (probe.get("httpGet") or {}).get("path")
        if actual != path:
            report.fail(rendered.where(obj), f"{field_path}.httpGet.path is {actual!r}, expected {path}")
        if port is not None and probe_port(obj, spec, probe) != port:
            report.fail(rendered.where(obj), f"{field_path}.httpGet.port does not reach {addr_key} port {port}")


def pre_stop_sleep_s(spec: dict) -> int:
    """Seconds a container's preStop hook sleeps (`sleep N` or the sleep action); 0 without one."""
    pre_stop = (spec.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre_stop:
        return int((pre_stop["sleep"] or {}).get("seconds", 0))
    command = (pre_stop.get("exec") or {}).get("command") or []
    if len(command) == 2 and command[0] in ("sleep", "/bin/sleep") and str(command[1]).isdigit():
        return int(command[1])
    return 0


def check_api(rendered: Rendered, report: Report) -> None:
    check_probes(rendered, API_DEPLOYMENT, "api", {"readinessProbe": "/readyz", "livenessProbe": "/healthz"},
                 "API_ADDR", report)
    obj = rendered.find("Deployment", API_DEPLOYMENT)
    if obj is None:
        return
    # The kubelet counts the preStop hook in the grace period; SIGTERM (and the
    # drain of in-flight requests) starts only after it.
    grace = int(rendered.config().get("SHUTDOWN_GRACE_S") or 30)
    pre_stop = pre_stop_sleep_s(container(obj, "api"))
    period = pod_spec(obj).get("terminationGracePeriodSeconds", 30)
    if period < pre_stop + grace + SHUTDOWN_MARGIN_S:
        report.fail(rendered.where(obj), f"spec.template.spec.terminationGracePeriodSeconds is {period}; it must "
                                         f"cover the preStop sleep ({pre_stop}s) plus SHUTDOWN_GRACE_S={grace} "
                                         f"(ConfigMap {CONFIG_MAP}) plus {SHUTDOWN_MARGIN_S}s")
    report.ran(f"{rendered.target.name}: api readiness /readyz, liveness /healthz on the API_ADDR port, "
               f"grace period {period}s >= preStop {pre_stop}s + SHUTDOWN_GRACE_S {grace}s")


def check_worker(rendered: Rendered, report: Report) -> None:
    check_probes(rendered, WORKER_DEPLOYMENT, "worker", {"readinessProbe": "/healthz", "livenessProbe": "/healthz"},
                 "WORKER_METRICS_ADDR", report)
    obj = rendered.find("Deployment", WORKER_DEPLOYMENT)
    if obj is None:
        return
    where = rendered.where(obj)
    config = rendered.config()
    grace = int(config.get("SHUTDOWN_GRACE_S") or 30)
    period = pod_spec(obj).get("terminationGracePeriodSeconds", 30)
    pre_stop = pre_stop_sleep_s(container(obj, "worker"))
    needed = pre_stop + worker_shutdown_s(grace)
    if period < needed:
        steps = " + ".join(f"{seconds}s {what}" for what, seconds in WORKER_SHUTDOWN_STEPS_S)
        report.fail(where, f"spec.template.spec.terminationGracePeriodSeconds is {period}; the worker's "
                           f"worst-case shutdown takes {needed}s: preStop {pre_stop}s + SHUTDOWN_GRACE_S={grace}s "
                           f"(ConfigMap {CONFIG_MAP}) + {steps}")
    spec = container(obj, "worker")
    env = {e.get("name"): e for e in spec.get("env") or []}
    field_ref = ((env.get("WORKER_ID") or {}).get("valueFrom") or {}).get("fieldRef") or {}
    if field_ref.get("fieldPath") != "metadata.name":
        report.fail(where, "spec.template.spec.containers[worker].env.WORKER_ID must come from fieldRef metadata.name")
    workspace = config.get("WORKSPACE_ROOT", "")
    mount = next((m for m in spec.get("volumeMounts") or [] if m.get("mountPath") == workspace), None)
    volume = next((v for v in pod_spec(obj).get("volumes") or [] if mount and v.get("name") == mount.get("name")), {})
    if not workspace or "emptyDir" not in volume:
        report.fail(where, f"WORKSPACE_ROOT ({workspace!r}) must be the mountPath of an emptyDir volume")
    check_consumer_timeout(rendered.root, config, f"{rendered.target.path} ConfigMap/{CONFIG_MAP}", report)
    report.ran(f"{rendered.target.name}: worker grace period {period}s >= worst-case shutdown {needed}s "
               f"(SHUTDOWN_GRACE_S {grace}s + {WORKER_SHUTDOWN_OVERHEAD_S}s), probes, WORKER_ID, workspace emptyDir")


def check_migrate_job(rendered: Rendered, report: Report) -> None:
    job = rendered.find("Job", MIGRATE_JOB)
    api = rendered.find("Deployment", API_DEPLOYMENT)
    if job is None:
        report.fail(rendered.where(None, "Job", MIGRATE_JOB), "missing")
        return
    where = rendered.where(job)
    for key in ("ttlSecondsAfterFinished", "backoffLimit"):
        if key not in job.get("spec", {}):
            report.fail(where, f"spec.{key} is missing")
    spec = container(job, "migrate")
    if (spec.get("args") or spec.get("command")) != ["migrate"]:
        report.fail(where, "spec.template.spec.containers[migrate].args must be [migrate]")
    if api and spec.get("image") != container(api, "api").get("image"):
        report.fail(where, "the migration must run the api image of the same release")
    report.ran(f"{rendered.target.name}: migration Job runs `migrate` from the api image, with TTL and backoffLimit")


def check_pod_security(rendered: Rendered, report: Report) -> None:
    for obj in rendered.of_kind(*WORKLOAD_KINDS, "CronJob"):
        spec = pod_spec(obj)
        pod_context = spec.get("securityContext") or {}
        if spec.get("automountServiceAccountToken") is not False:
            report.fail(rendered.where(obj), "spec.template.spec.automountServiceAccountToken must be false")
        containers = [("containers", c) for c in spec.get("containers") or []]
        containers += [("initContainers", c) for c in spec.get("initContainers") or []]
        for list_name, item in containers:
            context = item.get("securityContext") or {}
            field_path = f"spec.template.spec.{list_name}[{item.get('name')}]"
            if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
                report.fail(rendered.where(obj), f"{field_path}: runAsNonRoot must be true")
            for key, wanted in (("readOnlyRootFilesystem", True), ("allowPrivilegeEscalation", False)):
                if context.get(key) is not wanted:
                    report.fail(rendered.where(obj), f"{field_path}.securityContext.{key} must be {wanted}")
            resources = item.get("resources") or {}
            for kind in ("requests", "limits"):
                if "memory" not in (resources.get(kind) or {}):
                    report.fail(rendered.where(obj), f"{field_path}.resources.{kind}.memory is missing")
    report.ran(f"{rendered.target.name}: pods non-root, read-only root filesystem, no token, memory requests/limits")


def selects(selector: dict, labels: dict) -> bool:
    wanted = (selector or {}).get("matchLabels", selector or {})
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def check_selectors(rendered: Rendered, report: Report) -> None:
    workloads = rendered.of_kind(*WORKLOAD_KINDS)
    for obj in rendered.of_kind("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        if not selects((obj.get("spec") or {}).get("selector"), pod_labels(obj)):
            report.fail(rendered.where(obj), "spec.selector does not match spec.template.metadata.labels")
    for obj in rendered.of_kind("PodDisruptionBudget"):
        selector = (obj.get("spec") or {}).get("selector")
        if not any(selects(selector, pod_labels(w)) for w in workloads if w.get("kind") != "Job"):
            report.fail(rendered.where(obj), f"spec.selector {selector} selects no pods of any Deployment")
    for obj in rendered.of_kind("Service"):
        selector = (obj.get("spec") or {}).get("selector")
        targets = [w for w in workloads if selects(selector, pod_labels(w))]
        if not targets:
            report.fail(rendered.where(obj), f"spec.selector {selector} selects no pods")
        for port in (obj.get("spec") or {}).get("ports") or []:
            wanted = port.get("targetPort", port.get("port"))
            known = {p.get("name") for t in targets for c in pod_spec(t).get("containers") or []
                     for p in c.get("ports") or []} | {p.get("containerPort") for t in targets
                                                       for c in pod_spec(t).get("containers") or []
                                                       for p in c.get("ports") or []}
            if targets and wanted not in known:
                report.fail(rendered.where(obj), f"spec.ports targetPort {wanted!r} is not a container port")
    report.ran(f"{rendered.target.name}: PDB and Service selectors select existing pods")


def secret_keys(rendered: Rendered, name: str) -> set[str] | None:
    obj = rendered.find("Secret", name)
    if obj is not None:
        return set(obj.get("data") or {}) | set(obj.get("stringData") or {})
    return rendered.external_secrets.get(name)


def check_references(rendered: Rendered, report: Report) -> None:
    """Every ConfigMap/Secret (and key) a pod or KEDA object names must exist."""

    def resolve(where: str, kind: str, name: str, key: str | None) -> None:
        if kind == "ConfigMap":
            obj = rendered.find("ConfigMap", name)
            keys = set((obj or {}).get("data") or {}) if obj else None
        else:
            keys = secret_keys(rendered, name)
        if keys is None:
            report.fail(where, f"references {kind} {name!r}, which is neither rendered nor documented "
                               f"in {SECRET_EXAMPLE}")
        elif key is not None and key not in keys:
            report.fail(where, f"references key {key!r} of {kind} {name!r}, which has {sorted(keys)}")

    for obj in rendered.of_kind(*WORKLOAD_KINDS, "CronJob"):
        spec = pod_spec(obj)
        where = rendered.where(obj)
        for item in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for source in item.get("envFrom") or []:
                if "configMapRef" in source:
                    resolve(where, "ConfigMap", source["configMapRef"]["name"], None)
                if "secretRef" in source:
                    resolve(where, "Secret", source["secretRef"]["name"], None)
            for env in item.get("env") or []:
                value_from = env.get("valueFrom") or {}
                for ref_kind, ref_field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if ref_field in value_from:
                        resolve(where, ref_kind, value_from[ref_field]["name"], value_from[ref_field]["key"])
        for volume in spec.get("volumes") or []:
            if "configMap" in volume:
                resolve(where, "ConfigMap", volume["configMap"]["name"], None)
            if "secret" in volume:
                resolve(where, "Secret", volume["secret"]["secretName"], None)
    for obj in rendered.of_kind("TriggerAuthentication"):
        for ref in (obj.get("spec") or {}).get("secretTargetRef") or []:
            resolve(rendered.where(obj), "Secret", ref.get("name"), ref.get("key"))
    for obj in rendered.of_kind("ScaledObject"):
        for trigger in (obj.get("spec") or {}).get("triggers") or []:
            auth = (trigger.get("authenticationRef") or {}).get("name")
            if auth and rendered.find("TriggerAuthentication", auth) is None:
                report.fail(rendered.where(obj), f"authenticationRef {auth!r} names no TriggerAuthentication")
    report.ran(f"{rendered.target.name}: every ConfigMap/Secret reference and key resolves")


def check_replica_ownership(rendered: Rendered, report: Report) -> None:
    """kubectl scale works on the base; with an autoscaler, the autoscaler alone owns replicas."""
    target = rendered.target
    owners: dict[str, list[dict]] = {}
    for obj in rendered.of_kind("HorizontalPodAutoscaler", "ScaledObject"):
        ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        if rendered.find(ref.get("kind", "Deployment"), ref.get("name")) is None:
            report.fail(rendered.where(obj), f"spec.scaleTargetRef {ref.get('name')!r} names no Deployment")
        owners.setdefault(ref.get("name"), []).append(obj)
    for name, autoscalers in owners.items():
        if len(autoscalers) > 1:
            report.fail(rendered.where(None, "Deployment", name),
                        f"scaled by {len(autoscalers)} autoscalers ({', '.join(a['kind'] for a in autoscalers)})")
        deployment = rendered.find("Deployment", name)
        if deployment is not None and "replicas" in (deployment.get("spec") or {}):
            report.fail(rendered.where(deployment), f"spec.replicas is set while {autoscalers[0]['kind']} "
                                                    "owns it; every kubectl apply would reset the scale")
    worker_owner = [a["kind"] for a in owners.get(WORKER_DEPLOYMENT, [])]
    if target.autoscaler is None and worker_owner:
        report.fail(rendered.where(None, "Deployment", WORKER_DEPLOYMENT),
                    f"worker replicas are managed by {worker_owner[0]} in {target.path}; autoscalers belong in "
                    "an optional component so `kubectl scale` works on the base")
    if target.autoscaler and worker_owner != [target.autoscaler]:
        report.fail(rendered.where(None, "Deployment", WORKER_DEPLOYMENT),
                    f"expected the worker to be scaled by a {target.autoscaler}, found {worker_owner or 'none'}")
    for name, replicas in target.replicas.items():
        obj = rendered.find("Deployment", name)
        actual = ((obj or {}).get("spec") or {}).get("replicas")
        if actual != replicas:
            report.fail(rendered.where(obj, "Deployment", name), f"spec.replicas is {actual}, expected {replicas}")
    report.ran(f"{target.name}: replica ownership (worker scaled by {worker_owner or ['kubectl scale']})")


def check_keda(rendered: Rendered, report: Report) -> None:
    config = rendered.config()
    queue = f"{config.get('QUEUE_PREFIX', 'agent_runner')}.work"
    concurrency = config.get("WORKER_CONCURRENCY", "8")
    for obj in rendered.of_kind("ScaledObject"):
        spec = obj.get("spec") or {}
        where = rendered.where(obj)
        if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
            report.fail(where, "spec.minReplicaCount must not exceed spec.maxReplicaCount")
        if rendered.target.min_workers is not None and spec.get("minReplicaCount") != rendered.target.min_workers:
            report.fail(where, f"spec.minReplicaCount is {spec.get('minReplicaCount')}, "
                               f"expected {rendered.target.min_workers}")
        rabbit = [t for t in spec.get("triggers") or [] if t.get("type") == "rabbitmq"]
        if not rabbit:
            report.fail(where, "spec.triggers has no rabbitmq trigger")
        for trigger in rabbit:
            metadata = trigger.get("metadata") or {}
            if metadata.get("queueName") != queue:
                report.fail(where, f"trigger queueName is {metadata.get('queueName')!r}, expected {queue}")
            if metadata.get("mode") != "QueueLength":
                report.fail(where, "trigger mode must be QueueLength")
            elif str(metadata.get("value")) != concurrency:
                report.fail(where, f"trigger value (messages per worker) is {metadata.get('value')!r}, but "
                                   f"WORKER_CONCURRENCY is {concurrency!r} (ConfigMap {CONFIG_MAP}): one worker "
                                   "runs WORKER_CONCURRENCY messages at once, so the two must agree")
            if metadata.get("protocol") != "http" or metadata.get("excludeUnacknowledged") == "true":
                report.fail(where, "trigger must use protocol http and count unacknowledged messages: "
                                   "a running run's delivery stays unacked")
            auth = rendered.find("TriggerAuthentication", (trigger.get("authenticationRef") or {}).get("name"))
            params = {r.get("parameter") for r in ((auth or {}).get("spec") or {}).get("secretTargetRef") or []}
            if auth and "host" not in params:
                report.fail(rendered.where(auth), "spec.secretTargetRef must provide the `host` parameter")
    if rendered.of_kind("ScaledObject"):
        report.ran(f"{rendered.target.name}: KEDA scales on {queue} (QueueLength, ready + unacked), "
                   f"{concurrency} messages per worker = WORKER_CONCURRENCY")
    check_hpa(rendered, concurrency, report)


def check_hpa(rendered: Rendered, concurrency: str, report: Report) -> None:
    """An HPA on the worker with a per-pod queue metric (External or Object,
    AverageValue) must aim at WORKER_CONCURRENCY messages per worker, as KEDA
    does. The shipped HPA scales on CPU, which has no such value."""
    for obj in rendered.of_kind("HorizontalPodAutoscaler"):
        spec = obj.get("spec") or {}
        if (spec.get("scaleTargetRef") or {}).get("name") != WORKER_DEPLOYMENT:
            continue
        for index, metric in enumerate(spec.get("metrics") or []):
            kind = metric.get("type")
            if kind not in ("External", "Object"):
                continue
            target = (metric.get(kind[0].lower() + kind[1:]) or {}).get("target") or {}
            value = target.get("averageValue")
            if value is not None and str(value) != concurrency:
                report.fail(rendered.where(obj), f"spec.metrics[{index}] aims at averageValue {value!r} per "
                                                 f"worker, but WORKER_CONCURRENCY is {concurrency!r}")
        report.ran(f"{rendered.target.name}: HPA queue metrics (if any) aim at WORKER_CONCURRENCY per worker")


def check_target_policy(rendered: Rendered, report: Report) -> None:
    target = rendered.target
    config = rendered.config()
    if target.log_format and config.get("LOG_FORMAT") != target.log_format:
        report.fail(rendered.where(None, "ConfigMap", CONFIG_MAP),
                    f"data.LOG_FORMAT is {config.get('LOG_FORMAT')!r}, expected {target.log_format}")
    for obj in rendered.of_kind(*WORKLOAD_KINDS):
        for item in pod_spec(obj).get("containers") or []:
            name, tag, digest = split_image(item.get("image", ""))
            field_path = f"spec.template.spec.containers[{item.get('name')}].image"
            own = name.rsplit("/", 1)[-1] in OWN_IMAGES
            if target.image_tag and own and tag != target.image_tag:
                report.fail(rendered.where(obj),
                            f"{field_path} {item.get('image')!r} should be tagged {target.image_tag}")
            if target.pinned_images and not digest and (not tag or tag in ("latest", "dev", "main")):
                report.fail(rendered.where(obj), f"{field_path} {item.get('image')!r} is not pinned "
                                                 "(needs a release tag or a digest)")
    report.ran(f"{target.name}: log format and image tags")


def container_env(rendered: Rendered, spec: dict) -> dict[str, str | None]:
    """A container's environment: its envFrom ConfigMaps, then env (which wins).
    Values from valueFrom (Secrets, fieldRef) are None."""
    env: dict[str, str | None] = {}
    for source in spec.get("envFrom") or []:
        ref = (source.get("configMapRef") or {}).get("name")
        data = ((rendered.find("ConfigMap", ref) or {}).get("data") or {}) if ref else {}
        env.update({source.get("prefix", "") + key: str(value) for key, value in data.items()})
    for item in spec.get("env") or []:
        env[item.get("name")] = None if "valueFrom" in item else str(item.get("value", ""))
    return env


def check_otel(rendered: Rendered, report: Report) -> None:
    envs: dict[str, dict[str, str | None]] = {}
    objects: dict[str, dict | None] = {}
    for name, deployment in (("api", API_DEPLOYMENT), ("worker", WORKER_DEPLOYMENT)):
        objects[name] = rendered.find("Deployment", deployment)
        if objects[name] is not None:
            envs[name] = container_env(rendered, container(objects[name], name))

    def where(name: str) -> str:
        return f"{rendered.where(objects[name])} spec.template.spec.containers[{name}]"

    check_otel_settings(envs, where, report)
    report.ran(f"{rendered.target.name}: api and worker receive {OTEL_ENDPOINT} (one collector), {OTEL_HEADERS} "
               f"from a Secret and their own {OTEL_SERVICE_NAME}")


# In-cluster PostgreSQL and RabbitMQ (the dev overlay only)

POSTGRES = "agent-runner-postgres"
RABBITMQ = "agent-runner-rabbitmq"
#: The ConfigMap carrying deploy/rabbitmq/ into the RabbitMQ pod, key -> file.
RABBITMQ_CONFIG_MAP = "agent-runner-rabbitmq"
RABBITMQ_CONFIG_FILES = {"rabbitmq.conf": RABBITMQ_CONF, "enabled_plugins": ENABLED_PLUGINS}


def secret_value(rendered: Rendered, name: str, key: str) -> str | None:
    obj = rendered.find("Secret", name) or {}
    if key in (obj.get("stringData") or {}):
        return str(obj["stringData"][key])
    if key in (obj.get("data") or {}):
        return base64.b64decode(obj["data"][key]).decode()
    return None


def env_value(rendered: Rendered, spec: dict, name: str) -> str | None:
    """A container's variable: its value, or the value of the rendered Secret key it names."""
    for item in spec.get("env") or []:
        if item.get("name") != name:
            continue
        if "value" in item:
            return str(item["value"])
        ref = (item.get("valueFrom") or {}).get("secretKeyRef") or {}
        return secret_value(rendered, ref.get("name"), ref.get("key")) if ref else None
    return None


def service_port_to(service: dict, spec: dict, container_port: int) -> int | None:
    """The Service port whose targetPort reaches `container_port` of the container `spec`."""
    names = {p.get("name") for p in spec.get("ports") or [] if p.get("containerPort") == container_port}
    for port in (service.get("spec") or {}).get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if target == container_port or target in names:
            return port.get("port")
    return None


def host_is_service(host: str, service: str) -> bool:
    return host in (service, f"{service}.{NAMESPACE}", f"{service}.{NAMESPACE}.svc",
                    f"{service}.{NAMESPACE}.svc.cluster.local")


def compose_image(root: Path, service: str) -> str | None:
    path = root / COMPOSE_FILE
    compose = (load_yaml_file(path) or {}) if path.is_file() else {}
    return ((compose.get("services") or {}).get(service) or {}).get("image")


def check_datastore(rendered: Rendered, name: str, compose_service: str, data_path: str,
                    report: Report) -> tuple[dict, dict, dict] | None:
    """What both StatefulSets need: one replica, the image compose runs, a readiness
    probe, a volumeClaimTemplate holding `data_path`, a governing Service.
    Returns (StatefulSet, container, Service) when they exist."""
    obj = rendered.find("StatefulSet", name)
    if obj is None:
        report.fail(rendered.where(None, "StatefulSet", name), "missing; the dev overlay runs its own datastores")
        return None
    where = rendered.where(obj)
    spec = obj.get("spec") or {}
    if spec.get("replicas") != 1:
        report.fail(where, f"spec.replicas is {spec.get('replicas')}, expected 1 (a single, unclustered node)")
    containers = pod_spec(obj).get("containers") or []
    item = containers[0] if containers else {}
    field_path = f"spec.template.spec.containers[{item.get('name')}]"
    wanted = compose_image(rendered.root, compose_service)
    if item.get("image") != wanted:
        report.fail(where, f"{field_path}.image is {item.get('image')!r}; {COMPOSE_FILE} runs {wanted!r}, "
                           "and both must run the same version")
    if not item.get("readinessProbe"):
        report.fail(where, f"{field_path}.readinessProbe is missing; clients must not reach a starting node")
    claims = {(t.get("metadata") or {}).get("name") for t in spec.get("volumeClaimTemplates") or []}
    mount = next((m for m in item.get("volumeMounts") or [] if m.get("name") in claims
                  and (data_path + "/").startswith(m.get("mountPath", "").rstrip("/") + "/")), None)
    if mount is None:
        report.fail(where, f"{field_path}: {data_path} must be on a volumeClaimTemplate (data survives restarts)")
    service = rendered.find("Service", spec.get("serviceName"))
    if service is None:
        report.fail(where, f"spec.serviceName {spec.get('serviceName')!r} names no Service")
        return None
    if not selects((service.get("spec") or {}).get("selector"), pod_labels(obj)):
        report.fail(rendered.where(service), f"spec.selector does not select the pods of StatefulSet {name}")
    return obj, item, service


def check_url(rendered: Rendered, key: str, schemes: tuple[str, ...], service: dict, port: int | None,
              user: str | None, password: str | None, report: Report, database: str | None = None) -> None:
    """The Secret's `key` is a URL reaching `service` on `port` as `user`/`password`."""
    where = f"{rendered.where(rendered.find('Secret', SECRET))} stringData.{key}"
    value = secret_value(rendered, SECRET, key)
    if value is None:
        report.fail(where, "missing")
        return
    url = urlsplit(value)
    service_name = service["metadata"]["name"]
    default_port = {"postgres": 5432, "postgresql": 5432, "amqp": 5672, "http": 80}.get(url.scheme)
    if url.scheme not in schemes:
        report.fail(where, f"scheme {url.scheme!r}, expected {' or '.join(schemes)}")
    if not host_is_service(url.hostname or "", service_name):
        report.fail(where, f"host {url.hostname!r} is not the Service {service_name} (the overlay's own "
                           "datastore)")
    if port is None:
        report.fail(rendered.where(service), f"spec.ports: no port reaches the container port {key} needs")
    elif (url.port or default_port) != port:
        report.fail(where, f"port {url.port or default_port} is not the Service {service_name}'s port {port}")
    if user is not None and unquote(url.username or "") != user:
        report.fail(where, f"user {unquote(url.username or '')!r} is not the one the datastore creates ({user!r})")
    if password is not None and unquote(url.password or "") != password:
        report.fail(where, "password differs from the one the datastore is initialised with")
    if database is not None and unquote(url.path.lstrip("/")) != database:
        report.fail(where, f"database {unquote(url.path.lstrip('/'))!r} is not the one created ({database!r})")


def check_postgres(rendered: Rendered, report: Report) -> None:
    found = check_datastore(rendered, POSTGRES, "postgres", "/var/lib/postgresql/data", report)
    if found is None:
        return
    _, item, service = found
    user = env_value(rendered, item, "POSTGRES_USER") or "postgres"
    pgdata = env_value(rendered, item, "PGDATA") or "/var/lib/postgresql/data"
    if pgdata.rstrip("/") == "/var/lib/postgresql/data":
        report.fail(rendered.where(found[0]), "PGDATA must be a subdirectory of the volume: initdb refuses a "
                                              "mount point it does not own when not running as root")
    check_url(rendered, "DATABASE_URL", ("postgres", "postgresql"), service, service_port_to(service, item, 5432),
              user, env_value(rendered, item, "POSTGRES_PASSWORD"), report,
              database=env_value(rendered, item, "POSTGRES_DB") or user)


def check_rabbitmq(rendered: Rendered, report: Report) -> None:
    found = check_datastore(rendered, RABBITMQ, "rabbitmq", "/var/lib/rabbitmq", report)
    if found is None:
        return
    obj, item, service = found
    where = rendered.where(obj)
    user = env_value(rendered, item, "RABBITMQ_DEFAULT_USER")
    password = env_value(rendered, item, "RABBITMQ_DEFAULT_PASS")
    check_url(rendered, "AMQP_URL", ("amqp",), service, service_port_to(service, item, 5672), user, password,
              report)
    check_url(rendered, "RABBITMQ_MANAGEMENT_URL", ("http",), service, service_port_to(service, item, 15672),
              user, password, report)
    config_map = rendered.find("ConfigMap", RABBITMQ_CONFIG_MAP)
    if config_map is None:
        report.fail(rendered.where(None, "ConfigMap", RABBITMQ_CONFIG_MAP), "missing; it carries deploy/rabbitmq/")
        return
    data = config_map.get("data") or {}
    for key, path in RABBITMQ_CONFIG_FILES.items():
        shipped = (rendered.root / path).read_text() if (rendered.root / path).is_file() else None
        if data.get(key) != shipped:
            report.fail(rendered.where(config_map), f"data.{key!r} differs from {path}; copy the file verbatim")
    if "rabbitmq_management" not in data.get("enabled_plugins", ""):
        report.fail(rendered.where(config_map), "data.enabled_plugins must enable rabbitmq_management")
    volumes = {v.get("name") for v in pod_spec(obj).get("volumes") or []
               if (v.get("configMap") or {}).get("name") == RABBITMQ_CONFIG_MAP}
    mounted = {m.get("subPath"): m.get("mountPath") for m in item.get("volumeMounts") or []
               if m.get("name") in volumes}
    conf_path = mounted.get("rabbitmq.conf") or ""
    if not (conf_path.startswith("/etc/rabbitmq/conf.d/") or conf_path == "/etc/rabbitmq/rabbitmq.conf"):
        report.fail(where, f"ConfigMap {RABBITMQ_CONFIG_MAP} key rabbitmq.conf must be mounted (subPath) in "
                           "/etc/rabbitmq/conf.d/")
    if mounted.get("enabled_plugins") != "/etc/rabbitmq/enabled_plugins":
        report.fail(where, f"ConfigMap {RABBITMQ_CONFIG_MAP} key enabled_plugins must be mounted (subPath) at "
                           "/etc/rabbitmq/enabled_plugins")
    check_consumer_timeout(rendered.root, rendered.config(), f"{rendered.target.path} ConfigMap/{CONFIG_MAP}",
                           report, conf_text=data.get("rabbitmq.conf", ""),
                           conf_where=f"{rendered.target.path} ConfigMap/{RABBITMQ_CONFIG_MAP}")


def check_datastores(rendered: Rendered, report: Report) -> None:
    """The dev overlay runs its own PostgreSQL and RabbitMQ, and its Secret points at
    them; every other target uses external ones and renders neither."""
    target = rendered.target
    own = [o for o in rendered.of_kind("StatefulSet") if o["metadata"].get("name") in (POSTGRES, RABBITMQ)]
    if not target.datastores:
        for obj in own:
            report.fail(rendered.where(obj), "an in-cluster datastore belongs in the dev overlay only; this "
                                             "target uses managed or existing instances (the Secret's URLs)")
        return
    secret = rendered.find("Secret", SECRET)
    if secret is None:
        report.fail(rendered.where(None, "Secret", SECRET), "missing; the dev overlay renders it, pointing at "
                                                            "its own datastores")
        return
    keys = set(secret.get("stringData") or {}) | set(secret.get("data") or {})
    for key in sorted(set().union(*rendered.external_secrets.values()) - keys if rendered.external_secrets else ()):
        report.fail(rendered.where(secret), f"lacks {key}, which {SECRET_EXAMPLE} documents")
    check_postgres(rendered, report)
    check_rabbitmq(rendered, report)
    job = rendered.find("Job", MIGRATE_JOB)
    if job is not None:
        waits = [c for c in pod_spec(job).get("initContainers") or []
                 if "pg_isready" in " ".join(map(str, (c.get("command") or []) + (c.get("args") or [])))]
        if not waits:
            report.fail(rendered.where(job), "spec.template.spec.initContainers must wait for the in-cluster "
                                             "PostgreSQL (pg_isready): `migrate` fails at once while it starts")
        elif "activeDeadlineSeconds" not in (job.get("spec") or {}):
            report.fail(rendered.where(job), "spec.activeDeadlineSeconds is missing; the wait must end")
    report.ran(f"{target.name}: own PostgreSQL and RabbitMQ (images as in {COMPOSE_FILE}, readiness probes, "
               "volumeClaimTemplates), Secret URLs reach their Services with their credentials, RabbitMQ "
               "ConfigMap = deploy/rabbitmq/, migration waits for PostgreSQL")


K8S_CHECKS: tuple[Callable[[Rendered, Report], None], ...] = (
    check_metadata, check_config, check_api, check_worker, check_migrate_job, check_pod_security,
    check_selectors, check_references, check_replica_ownership, check_keda, check_target_policy, check_otel,
    check_datastores,
)


def external_secrets(root: Path) -> dict[str, set[str]]:
    path = root / SECRET_EXAMPLE
    if not path.is_file():
        return {}
    return {doc["metadata"]["name"]: set(doc.get("stringData") or {}) | set(doc.get("data") or {})
            for doc in load_yaml_docs(path) if doc.get("kind") == "Secret"}


def check_secret_example(root: Path, schemas: Schemas, report: Report) -> None:
    path = root / SECRET_EXAMPLE
    if not path.is_file():
        report.fail(SECRET_EXAMPLE, "missing; it documents the keys of the external Secret")
        return
    for doc in load_yaml_docs(path):
        for error in schemas.errors(doc):
            report.fail(f"{SECRET_EXAMPLE} Secret/{doc['metadata'].get('name')}", error)
    report.ran(f"{SECRET_EXAMPLE}: valid, and the contract for Secret references")


def check_k8s(root: Path, schemas: Schemas, kubectl: str | None, report: Report,
              only: Iterable[str] | None = None) -> dict[str, list[dict]]:
    """Render every target and run every check; returns the rendered objects by target."""
    targets = [t for t in TARGETS if only is None or t.name in only]
    secrets = external_secrets(root)
    check_secret_example(root, schemas, report)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = {t.name: pool.submit(render, root, t, kubectl) for t in targets}
    rendered_all = {}
    for target in targets:
        try:
            objects = futures[target.name].result()
        except (RenderError, OSError, yaml.YAMLError) as exc:
            report.fail(target.path, f"kustomize render failed: {exc}")
            continue
        rendered_all[target.name] = objects
        rendered = Rendered(root, target, objects, source_index(root, root / target.path), secrets)
        check_schemas(rendered, schemas, report)
        for check in K8S_CHECKS:
            check(rendered, report)
    return rendered_all


# --------------------------------------------------------------------------
# Drift test: the built-in renderer must match kubectl kustomize
# --------------------------------------------------------------------------

def first_difference(left: Any, right: Any, path: str = "") -> str | None:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right), key=str):
            if key not in left or key not in right:
                return f"{path}.{key}: only in {'kubectl' if key in left else 'built-in'}"
            found = first_difference(left[key], right[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return f"{path}: {len(left)} items (kubectl) vs {len(right)} (built-in)"
        for index, (a, b) in enumerate(zip(left, right)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if left == right else f"{path}: {left!r} (kubectl) vs {right!r} (built-in)"


def check_renderer_drift(root: Path, kubectl: str, report: Report,
                         kubectl_output: dict[str, list[dict]] | None = None) -> None:
    """kubectl_output: targets already rendered by kubectl, reused instead of rendering again."""
    for target in TARGETS:
        if target.synthetic:
            write_synthetic(root, target)
        directory = root / target.path
        try:
            objects = (kubectl_output or {}).get(target.name) or render_kubectl(kubectl, directory)
            expected = {identity(o): o for o in objects}
            actual = {identity(o): o for o in render_builtin(directory)}
        except RenderError as exc:
            report.fail(target.path, f"drift test could not render: {exc}")
            continue
        for key in sorted(set(expected) | set(actual)):
            if key not in actual or key not in expected:
                report.fail(target.path, f"{key[1]}/{key[3]} rendered only by "
                                         f"{'kubectl' if key in expected else 'the built-in renderer'}")
                continue
            difference = first_difference(expected[key], actual[key])
            if difference:
                report.fail(target.path, f"{key[1]}/{key[3]}: built-in renderer differs from kubectl: {difference}")
    report.ran(f"drift: built-in renderer output equals `kubectl kustomize` on {len(TARGETS)} targets")


# --------------------------------------------------------------------------
# Self-test: broken copies must be rejected
# --------------------------------------------------------------------------

@dataclass
class Mutation:
    """A deliberate break, the validator section that must catch it, and a
    fragment the resulting problem must contain."""

    name: str
    section: str
    apply: Callable[[Path], None]
    expect: str
    targets: tuple[str, ...] = ("base",)


def replace_text(rel_path: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel_path
        text = path.read_text()
        if text.count(old) != count:
            raise AssertionError(f"self-test: {rel_path} contains {old!r} {text.count(old)} times, expected {count}")
        path.write_text(text.replace(old, new))
    return apply


def edit_compose(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / COMPOSE_FILE
        compose = load_yaml_file(path)
        edit(compose["services"])
        path.write_text(yaml.safe_dump(compose, sort_keys=False))
    return apply


def remove_regex(rel_path: str, pattern: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel_path
        text, count = re.subn(pattern, "", path.read_text(), flags=re.MULTILINE)
        if count != 1:
            raise AssertionError(f"self-test: {pattern!r} matched {count} times in {rel_path}, expected 1")
        path.write_text(text)
    return apply


def set_key(mapping: dict, key: str, value: Any) -> None:
    mapping[key] = value


MUTATIONS = (
    Mutation("compose: api loses its healthcheck", "compose",
             edit_compose(lambda s: s["api"].pop("healthcheck")), "services.api.healthcheck"),
    Mutation("compose: worker gets a container_name", "compose",
             edit_compose(lambda s: set_key(s["worker"], "container_name", "worker")),
             "services.worker.container_name"),
    Mutation("compose: worker publishes a host port", "compose",
             edit_compose(lambda s: set_key(s["worker"], "ports", ["9090:9090"])), "services.worker.ports"),
    Mutation("compose: api waits for rabbitmq to start, not to be healthy", "compose",
             edit_compose(lambda s: set_key(s["api"]["depends_on"]["rabbitmq"], "condition", "service_started")),
             "depends_on.rabbitmq: condition is service_started"),
    Mutation("compose: worker does not wait for the migration to complete", "compose",
             edit_compose(lambda s: set_key(s["worker"]["depends_on"]["migrate"], "condition", "service_healthy")),
             "service_completed_successfully"),
    Mutation("compose: worker loses AMQP_URL", "compose",
             edit_compose(lambda s: s["worker"]["environment"].pop("AMQP_URL")),
             "services.worker.environment.AMQP_URL"),
    Mutation("compose: worker declares other retry tiers than the api", "compose",
             edit_compose(lambda s: set_key(s["worker"]["environment"], "RETRY_TIERS", "6")),
             "services.worker.environment.RETRY_TIERS"),
    Mutation("compose: typo in the rabbitmq.conf mount", "compose",
             replace_text(COMPOSE_FILE, "./deploy/rabbitmq/rabbitmq.conf:", "./deploy/rabbitmq/rabitmq.conf:"),
             "rabitmq.conf does not exist"),
    Mutation("compose: worker stop_grace_period below SHUTDOWN_GRACE_S", "compose",
             replace_text(COMPOSE_FILE, "stop_grace_period: 70s", "stop_grace_period: 10s"), "stop_grace_period"),
    Mutation("compose: worker killed while handing its runs back (SHUTDOWN_GRACE_S + 15s)", "compose",
             replace_text(COMPOSE_FILE, "stop_grace_period: 70s", "stop_grace_period: 45s"),
             "services.worker.stop_grace_period: 45s must be at least SHUTDOWN_GRACE_S=30s + 40s"),
    Mutation("compose: worker loses OTEL_EXPORTER_OTLP_ENDPOINT", "compose",
             edit_compose(lambda s: s["worker"]["environment"].pop("OTEL_EXPORTER_OTLP_ENDPOINT")),
             "services.worker.environment: OTEL_EXPORTER_OTLP_ENDPOINT is not passed"),
    Mutation("compose: collector key written into the file", "compose",
             edit_compose(lambda s: set_key(s["api"]["environment"], "OTEL_EXPORTER_OTLP_HEADERS",
                                            "authorization=Bearer%20abc")),
             "services.api.environment: OTEL_EXPORTER_OTLP_HEADERS is written into the deploy files"),
    Mutation("compose: worker spans named as the api's", "compose",
             edit_compose(lambda s: set_key(s["worker"]["environment"], "OTEL_SERVICE_NAME", "agent-runner-api")),
             "'agent-runner-api' is the api's too"),
    Mutation("compose: collector URL with /v1/traces appended", "compose",
             replace_text(COMPOSE_FILE, "${OTEL_EXPORTER_OTLP_ENDPOINT:-}",
                          "${OTEL_EXPORTER_OTLP_ENDPOINT:-http://otel-collector:4318/v1/traces}"),
             "the exporter appends /v1/traces"),
    Mutation("compose: api killed before its drain ends (default stop_grace_period)", "compose",
             edit_compose(lambda s: s["api"].pop("stop_grace_period")), "services.api.stop_grace_period"),
    Mutation("Dockerfile: worker loses its HEALTHCHECK", "dockerfile",
             remove_regex(DOCKERFILE, r"^HEALTHCHECK [^\n]*\\\n\s+CMD \[\"agent-runner-worker\"[^\n]*\n"),
             "stage worker: HEALTHCHECK"),
    Mutation("Dockerfile: api runs as root", "dockerfile",
             replace_text(DOCKERFILE, 'USER 10001:10001\n# HTTP api', 'USER root\n# HTTP api'), "stage api: USER"),
    Mutation("k8s: field name typo (readinesProbe)", "k8s",
             replace_text("k8s/base/api-deployment.yaml", "readinessProbe:", "readinesProbe:"), "readinesProbe"),
    Mutation("k8s: string where an integer belongs", "k8s",
             replace_text("k8s/base/api-deployment.yaml", "replicas: 2", "replicas: two"), "'two' is not of type"),
    Mutation("k8s: api readiness probe on the wrong path", "k8s",
             replace_text("k8s/base/api-deployment.yaml", "path: /readyz", "path: /ready"), "expected /readyz"),
    Mutation("k8s: worker grace period below SHUTDOWN_GRACE_S", "k8s",
             replace_text("k8s/base/worker-deployment.yaml", "terminationGracePeriodSeconds: 70",
                          "terminationGracePeriodSeconds: 20"), "terminationGracePeriodSeconds is 20"),
    Mutation("k8s: worker grace period ends before its shutdown steps do", "k8s",
             replace_text("k8s/base/worker-deployment.yaml", "terminationGracePeriodSeconds: 70",
                          "terminationGracePeriodSeconds: 69"), "worst-case shutdown takes 70s"),
    Mutation("k8s: api grace period ends before its drain does", "k8s",
             replace_text("k8s/base/api-deployment.yaml", "terminationGracePeriodSeconds: 40",
                          "terminationGracePeriodSeconds: 30"), "cover the preStop sleep (5s)"),
    Mutation("k8s: worker writable root filesystem", "k8s",
             replace_text("k8s/base/worker-deployment.yaml", "readOnlyRootFilesystem: true",
                          "readOnlyRootFilesystem: false"), "readOnlyRootFilesystem must be True"),
    Mutation("k8s: PDB selects no pods", "k8s",
             replace_text("k8s/base/worker-pdb.yaml", "      app.kubernetes.io/component: worker",
                          "      app.kubernetes.io/component: workers"), "selects no pods"),
    Mutation("k8s: secretKeyRef to a key the Secret does not have", "k8s",
             replace_text("k8s/base/worker-deployment.yaml", "key: DATABASE_URL", "key: DATABASE_URI"),
             "'DATABASE_URI'"),
    Mutation("k8s: api container loses AMQP_URL", "k8s",
             remove_regex("k8s/base/api-deployment.yaml",
                          r"^            - name: AMQP_URL\n(?:              .*\n)+"),
             "containers[api].env lacks AMQP_URL"),
    Mutation("k8s: envFrom a ConfigMap that does not exist", "k8s",
             replace_text("k8s/base/api-deployment.yaml", "name: agent-runner-config", "name: agent-runner-cfg"),
             "'agent-runner-cfg'"),
    Mutation("k8s: ConfigMap loses OTEL_EXPORTER_OTLP_ENDPOINT", "k8s",
             remove_regex("k8s/base/configmap.yaml", r'^  OTEL_EXPORTER_OTLP_ENDPOINT: ""\n'),
             "containers[api]: OTEL_EXPORTER_OTLP_ENDPOINT is not passed"),
    Mutation("k8s: worker loses OTEL_EXPORTER_OTLP_HEADERS", "k8s",
             remove_regex("k8s/base/worker-deployment.yaml",
                          r"^            - name: OTEL_EXPORTER_OTLP_HEADERS\n(              .*\n)+"),
             "containers[worker]: OTEL_EXPORTER_OTLP_HEADERS is not passed"),
    Mutation("k8s: worker loses OTEL_SERVICE_NAME", "k8s",
             remove_regex("k8s/base/worker-deployment.yaml",
                          r"^            - name: OTEL_SERVICE_NAME\n              value: .*\n"),
             "containers[worker]: OTEL_SERVICE_NAME is missing"),
    Mutation("k8s: prod collector on the OTLP/gRPC port", "k8s",
             replace_text("k8s/overlays/prod/config.yaml", "cluster.local:4318", "cluster.local:4317"),
             "OTLP/gRPC port", ("prod",)),
    Mutation("k8s: gRPC protocol towards the OTLP/HTTP port", "k8s",
             replace_text("k8s/overlays/prod/config.yaml", 'OTEL_EXPORTER_OTLP_PROTOCOL: ""',
                          "OTEL_EXPORTER_OTLP_PROTOCOL: grpc"),
             "OTLP/HTTP port, but OTEL_EXPORTER_OTLP_PROTOCOL is grpc", ("prod",)),
    Mutation("compose: worker speaks another OTLP protocol", "compose",
             edit_compose(lambda s: set_key(s["worker"]["environment"], "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")),
             "OTEL_EXPORTER_OTLP_PROTOCOL 'grpc' differs from the api's"),
    Mutation("k8s: an HPA in the base", "k8s",
             replace_text("k8s/base/kustomization.yaml", "resources:\n",
                          "components:\n  - ../components/hpa\n\nresources:\n"),
             "optional component"),
    Mutation("k8s: autoscaler component leaves spec.replicas in place", "k8s",
             remove_regex("k8s/components/keda/kustomization.yaml", r"^patches:\n(?:  .*\n)+"),
             "spec.replicas is set", ("base+keda",)),
    Mutation("KEDA: typo in the trigger mode", "k8s",
             replace_text("k8s/components/keda/scaledobject.yaml", "mode: QueueLength", "mode: QueueLenght"),
             "QueueLenght", ("base+keda",)),
    Mutation("KEDA: typo in a ScaledObject field", "k8s",
             replace_text("k8s/components/keda/scaledobject.yaml", "minReplicaCount: 1", "minReplicasCount: 1"),
             "minReplicasCount", ("base+keda",)),
    Mutation("KEDA: scaling on the dead-letter queue", "k8s",
             replace_text("k8s/components/keda/scaledobject.yaml", "queueName: agent_runner.work",
                          "queueName: agent_runner.dead"), "expected agent_runner.work", ("base+keda",)),
    Mutation("KEDA: messages per worker differ from WORKER_CONCURRENCY", "k8s",
             replace_text("k8s/components/keda/scaledobject.yaml", 'value: "8"', 'value: "16"'),
             "trigger value (messages per worker) is '16', but WORKER_CONCURRENCY is '8'", ("base+keda",)),
    Mutation("KEDA: WORKER_CONCURRENCY changed without the trigger", "k8s",
             replace_text("k8s/overlays/prod/config.yaml", 'WORKER_CONCURRENCY: "8"', 'WORKER_CONCURRENCY: "4"'),
             "WORKER_CONCURRENCY is '4'", ("prod",)),
    Mutation("HPA: queue metric aims at another count per worker than WORKER_CONCURRENCY", "k8s",
             replace_text("k8s/components/hpa/hpa.yaml", "  metrics:\n",
                          "  metrics:\n    - type: External\n      external:\n        metric:\n"
                          "          name: rabbitmq_queue_messages\n        target:\n"
                          "          type: AverageValue\n          averageValue: \"16\"\n"),
             "aims at averageValue '16' per worker, but WORKER_CONCURRENCY is '8'", ("base+hpa",)),
    Mutation("KEDA: TriggerAuthentication names a missing Secret key", "k8s",
             replace_text("k8s/components/keda/triggerauthentication.yaml", "key: RABBITMQ_MANAGEMENT_URL",
                          "key: RABBITMQ_MGMT_URL"), "'RABBITMQ_MGMT_URL'", ("base+keda",)),
    Mutation("k8s: prod image not pinned", "k8s",
             replace_text("k8s/overlays/prod/kustomization.yaml", 'newTag: "0.1.0"', "newTag: latest", count=2),
             "is not pinned", ("prod",)),
    Mutation("dev: DATABASE_URL names another host than the postgres Service", "k8s",
             replace_text("k8s/overlays/dev/secret.yaml", "@agent-runner-postgres:5432/", "@postgres:5432/"),
             "host 'postgres' is not the Service agent-runner-postgres", ("dev",)),
    Mutation("dev: RabbitMQ initialised with another password than AMQP_URL's", "k8s",
             replace_text("k8s/overlays/dev/secret.yaml", "RABBITMQ_PASSWORD: agent_runner",
                          "RABBITMQ_PASSWORD: something-else"),
             "stringData.AMQP_URL: password differs", ("dev",)),
    Mutation("dev: RabbitMQ ConfigMap with a consumer_timeout shorter than the longest run", "k8s",
             replace_text("k8s/overlays/dev/rabbitmq.yaml", "    consumer_timeout = 7200000",
                          "    consumer_timeout = 1800000"),
             "ConfigMap/agent-runner-rabbitmq: consumer_timeout", ("dev",)),
    Mutation("dev: RabbitMQ ConfigMap out of step with deploy/rabbitmq/rabbitmq.conf", "k8s",
             replace_text("k8s/overlays/dev/rabbitmq.yaml", "vm_memory_high_watermark.relative = 0.6",
                          "vm_memory_high_watermark.relative = 0.4"),
             "data.'rabbitmq.conf' differs from deploy/rabbitmq/rabbitmq.conf", ("dev",)),
    Mutation("dev: PostgreSQL version differs from docker-compose.yml", "k8s",
             replace_text("k8s/overlays/dev/postgres.yaml", "image: postgres:16", "image: postgres:15"),
             "docker-compose.yml runs 'postgres:16'", ("dev",)),
    Mutation("dev: RabbitMQ without a readiness probe", "k8s",
             remove_regex("k8s/overlays/dev/rabbitmq.yaml", r"^          readinessProbe:\n(?:            .*\n)+"),
             "containers[rabbitmq].readinessProbe is missing", ("dev",)),
    Mutation("dev: PostgreSQL may run as root", "k8s",
             replace_text("k8s/overlays/dev/postgres.yaml", "runAsNonRoot: true", "runAsNonRoot: false"),
             "containers[postgres]: runAsNonRoot must be true", ("dev",)),
    Mutation("dev: the migration does not wait for PostgreSQL", "k8s",
             replace_text("k8s/overlays/dev/migrate-job.yaml",
                          '- until pg_isready -q -d "$DATABASE_URL"; do echo "waiting for postgres"; sleep 2; done',
                          "- 'true'"),
             "must wait for the in-cluster PostgreSQL", ("dev",)),
    Mutation("rabbitmq: consumer_timeout shorter than the longest run", "k8s",
             replace_text(RABBITMQ_CONF, "consumer_timeout = 7200000", "consumer_timeout = 600000"),
             "consumer_timeout"),
)


def copy_tree(root: Path, destination: Path) -> None:
    for name in (COMPOSE_FILE, DOCKERFILE, ".dockerignore"):
        if (root / name).exists():
            shutil.copy2(root / name, destination / name)
    for name in ("k8s", "deploy"):
        if (root / name).is_dir():
            shutil.copytree(root / name, destination / name)


def validate_section(root: Path, section: str, schemas: Schemas, kubectl: str | None,
                     targets: Iterable[str] | None = None) -> tuple[Report, dict[str, list[dict]]]:
    """Run one section's checks (or all); also returns the rendered k8s targets."""
    report = Report()
    rendered: dict[str, list[dict]] = {}
    if section in ("all", "compose"):
        check_compose(root, report)
    if section in ("all", "dockerfile"):
        check_dockerfile(root, report)
    if section in ("all", "k8s"):
        rendered = check_k8s(root, schemas, kubectl, report, targets)
    return report, rendered


def run_mutation(root: Path, mutation: Mutation, schemas: Schemas, kubectl: str | None) -> str | None:
    """None if the validator rejected the mutation as expected, else what went wrong."""
    with tempfile.TemporaryDirectory(prefix="validate-deploy-") as scratch:
        copy_root = Path(scratch)
        copy_tree(root, copy_root)
        try:
            mutation.apply(copy_root)
        except (AssertionError, KeyError) as exc:
            return f"could not apply: {exc}"
        report, _ = validate_section(copy_root, mutation.section, schemas, kubectl, mutation.targets)
        if not report.problems:
            return "the validator accepted it"
        if not any(mutation.expect in problem for problem in report.problems):
            return f"rejected, but no problem mentions {mutation.expect!r}: {report.problems[:3]}"
    return None


def self_test(root: Path, schemas: Schemas, kubectl: str | None, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="validate-deploy-") as scratch:
        copy_tree(root, Path(scratch))
        baseline, _ = validate_section(Path(scratch), "all", schemas, kubectl)
    if baseline.problems:
        report.fail("self-test", f"the unmodified copy does not validate: {baseline.problems[:3]}")
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        outcomes = list(pool.map(lambda m: (m, run_mutation(root, m, schemas, kubectl)), MUTATIONS))
    for mutation, outcome in outcomes:
        if outcome is None:
            report.ran(f"self-test rejects: {mutation.name}")
        else:
            report.fail(f"self-test [{mutation.name}]", outcome)


# --------------------------------------------------------------------------
# KEDA CRD import (maintenance): CRD YAML -> k8s/schemas/*.json
# --------------------------------------------------------------------------

def crd_to_json_schema(node: Any) -> Any:
    """An openAPIV3Schema as the API server enforces it: unknown fields rejected."""
    if isinstance(node, list):
        return [crd_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: crd_to_json_schema(v) for k, v in node.items()
           if k not in ("description", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
                        "x-kubernetes-map-type", "x-kubernetes-validations", "default")}
    if out.get("type") == "object" and "properties" in out and not node.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


def import_crd(crd_path: Path, out_dir: Path, source: str) -> None:
    for crd in load_yaml_docs(crd_path):
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = crd_to_json_schema(version["schema"]["openAPIV3Schema"])
            schema["properties"].pop("status", None)
            schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
            schema["properties"]["kind"] = {"const": kind}
            schema["properties"]["metadata"] = {"$ref": "#/$defs/metadata"}
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
            document = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$comment": f"Generated by scripts/validate_deploy.py --import-crd from {source}. Do not edit.",
                "x-kubernetes-group-version-kind": [{"group": group, "version": version["name"], "kind": kind}],
                **schema,
                "$defs": {"metadata": {
                    "type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "namespace": {"type": "string"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                    }}},
            }
            path = out_dir / f"{kind.lower()}-{group}-{version['name']}.json"
            path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
            print(f"wrote {rel(ROOT, path)}")


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------

def resolve_renderer(choice: str) -> tuple[str | None, str | None]:
    """(kubectl for rendering or None for built-in, kubectl for the drift test)."""
    candidate = os.environ.get("VALIDATE_DEPLOY_KUBECTL") or shutil.which("kubectl")
    kubectl = kubectl_usable(candidate)
    if choice == "kubectl" and not kubectl:
        raise SystemExit("validate_deploy: --renderer kubectl, but no kubectl with kustomize v4+ was found")
    return (None if choice == "builtin" else kubectl), kubectl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--self-test", action="store_true", help="only run the self-test (mutated copies must fail)")
    parser.add_argument("--no-self-test", action="store_true", help="skip the self-test")
    parser.add_argument("--renderer", choices=("auto", "kubectl", "builtin"), default="auto",
                        help="kustomize renderer: kubectl kustomize when available (auto), or the built-in one")
    parser.add_argument("--import-crd", metavar="CRD_YAML", type=Path,
                        help="maintenance: convert a CRD into k8s/schemas/ JSON schemas and exit")
    parser.add_argument("--crd-source", default="a KEDA release", help="provenance note for --import-crd")
    args = parser.parse_args(argv)

    if args.import_crd:
        import_crd(args.import_crd, ROOT / "k8s" / "schemas", args.crd_source)
        return 0

    renderer, drift_kubectl = resolve_renderer(args.renderer)
    schemas = Schemas(ROOT, K8S_VERSION)
    report = Report()
    renderer_name = f"kubectl kustomize ({renderer})" if renderer else "built-in renderer"
    if not args.self_test:
        checked, rendered = validate_section(ROOT, "all", schemas, renderer)
        report.extend(checked)
        if drift_kubectl:
            check_renderer_drift(ROOT, drift_kubectl, report, rendered if renderer else None)
        else:
            report.ran("drift: skipped (no kubectl with kustomize v4+; rendered with the built-in renderer)")
    if args.self_test or not args.no_self_test:
        self_test(ROOT, schemas, renderer, report)

    print(f"validate-deploy: rendered with {renderer_name}; schemas: Kubernetes {K8S_VERSION} (strict), k8s/schemas")
    for line in report.checks:
        print(f"  ok  {line}")
    for problem in report.problems:
        print(f"  FAIL {problem}", file=sys.stderr)
    verdict = "FAILED" if report.problems else "passed"
    print(f"validate-deploy: {verdict}: {len(report.checks)} checks, {len(report.problems)} problems")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
