"""The self-test's mutations: deliberate breaks of copies of the deploy files,
each with the section that must catch it and a fragment of the expected problem."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from .compose import COMPOSE_FILE
from .dockerfile import DOCKERFILE
from .names import RABBITMQ_CONF
from .report import load_yaml_file


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
