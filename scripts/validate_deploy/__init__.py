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
  each optional component (kubectl kustomize, or the built-in renderer);
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

Run it as `scripts/validate-deploy`, or with that virtualenv's python as
`python scripts/validate_deploy`. One module per job: names (files and object
names), rust_sources (numbers read from the Rust code), report, compose, otel,
rabbitmq, dockerfile, render and builtin_render (kustomize), schemas,
k8s_checks with k8s_rendered, k8s_workloads, k8s_scaling and k8s_datastores,
drift, mutations and self_test, sections, crd_import and cli.
"""

import sys

try:
    import jsonschema  # noqa: F401
    import referencing  # noqa: F401
    import yaml  # noqa: F401
    from importlib.resources import files as package_files  # noqa: F401
except ImportError as exc:  # pragma: no cover - only without the venv
    sys.exit(f"validate_deploy: {exc}; run scripts/validate-deploy, which installs the dependencies")
