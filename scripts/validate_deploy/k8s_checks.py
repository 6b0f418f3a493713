"""Renders every kustomize target and runs every Kubernetes check on it."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable
from pathlib import Path
from typing import Callable

import yaml

from .builtin_render import RenderError
from .k8s_datastores import check_datastores
from .k8s_rendered import Rendered
from .k8s_scaling import check_keda, check_replica_ownership
from .k8s_workloads import (
    check_api, check_config, check_metadata, check_migrate_job, check_otel, check_pod_security,
    check_references, check_schemas, check_selectors, check_target_policy, check_worker,
)
from .names import SECRET_EXAMPLE
from .render import TARGETS, render, source_index
from .report import Report, load_yaml_docs
from .schemas import Schemas


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
