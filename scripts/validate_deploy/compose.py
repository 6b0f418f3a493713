"""docker-compose.yml: services, healthchecks, depends_on, environment, the
queue topology, OpenTelemetry settings, scaling and stop grace periods of
the api and the worker, and the files it references."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .dockerfile import dockerfile_stages
from .names import ENABLED_PLUGINS, RABBITMQ_CONF
from .otel import OTEL_ENDPOINT, OTEL_HEADERS, OTEL_PROTOCOL, OTEL_SERVICE_NAME, check_otel_settings
from .rabbitmq import check_consumer_timeout
from .report import Report, load_yaml_file, rel
from .rust_sources import SHUTDOWN_MARGIN_S, WORKER_SHUTDOWN_OVERHEAD_S


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


def compose_default(value: str) -> str:
    """A compose value as it reaches the container when the shell sets nothing:
    ${VAR:-default} and ${VAR-default} give the default, ${VAR} gives ''."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


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
