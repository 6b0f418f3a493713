"""Where the validated files are, and the names of the objects they define,
shared by every check."""

from __future__ import annotations

import os
from pathlib import Path


#: The repository (this package is scripts/validate_deploy/).
ROOT = Path(__file__).resolve().parent.parent.parent

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
CLUSTER_SCOPED_KINDS = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass", "ClusterTriggerAuthentication",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
#: Images built from this repository (the Dockerfile's api and worker targets).
OWN_IMAGES = ("agent-runner-api", "agent-runner-worker")
