"""Checks of who owns the replica counts: kubectl scale on the base, or one
autoscaler (KEDA's ScaledObject or an HPA) aiming at WORKER_CONCURRENCY."""

from __future__ import annotations

from .k8s_rendered import Rendered
from .names import CONFIG_MAP, WORKER_DEPLOYMENT
from .report import Report


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
