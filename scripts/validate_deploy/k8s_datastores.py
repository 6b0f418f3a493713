"""Checks of the dev overlay's own PostgreSQL and RabbitMQ, and of the Secret
URLs that reach them; every other target renders neither."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .compose import COMPOSE_FILE
from .k8s_rendered import Rendered, pod_labels, pod_spec
from .k8s_workloads import selects
from .names import CONFIG_MAP, ENABLED_PLUGINS, MIGRATE_JOB, NAMESPACE, RABBITMQ_CONF, SECRET, SECRET_EXAMPLE
from .rabbitmq import check_consumer_timeout
from .report import Report, load_yaml_file


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
