"""Runs one section of checks (compose, dockerfile, k8s) or all of them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .compose import check_compose
from .dockerfile import check_dockerfile
from .k8s_checks import check_k8s
from .report import Report
from .schemas import Schemas


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
