"""Checks of the rendered api, worker and migration workloads: schemas,
metadata, configuration, probes and grace periods, pod security, selectors,
references, per-target policy and OpenTelemetry settings."""

from __future__ import annotations

import re

from .builtin_render import split_image
from .k8s_rendered import Rendered, container, pod_labels, pod_spec
from .names import (
    API_DEPLOYMENT, APP_LABELS, CLUSTER_SCOPED_KINDS, CONFIG_MAP, MIGRATE_JOB, NAMESPACE, OWN_IMAGES,
    SECRET_EXAMPLE, WORKER_DEPLOYMENT, WORKLOAD_KINDS,
)
from .otel import OTEL_ENDPOINT, OTEL_HEADERS, OTEL_SERVICE_NAME, check_otel_settings
from .rabbitmq import check_consumer_timeout
from .report import Report
from .rust_sources import SHUTDOWN_MARGIN_S, WORKER_SHUTDOWN_OVERHEAD_S, WORKER_SHUTDOWN_STEPS_S, worker_shutdown_s
from .schemas import Schemas


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
