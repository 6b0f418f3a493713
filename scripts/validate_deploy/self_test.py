"""Self-test: every mutation applied to a copy of the files must be rejected."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import tempfile
from pathlib import Path

from .compose import COMPOSE_FILE
from .dockerfile import DOCKERFILE
from .mutations import MUTATIONS, Mutation
from .report import Report
from .schemas import Schemas
from .sections import validate_section


def copy_tree(root: Path, destination: Path) -> None:
    for name in (COMPOSE_FILE, DOCKERFILE, ".dockerignore"):
        if (root / name).exists():
            shutil.copy2(root / name, destination / name)
    for name in ("k8s", "deploy"):
        if (root / name).is_dir():
            shutil.copytree(root / name, destination / name)


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
