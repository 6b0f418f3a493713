"""Drift test: the built-in renderer must render what kubectl kustomize does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .builtin_render import RenderError, identity, render_builtin
from .render import TARGETS, render_kubectl, write_synthetic
from .report import Report


def first_difference(left: Any, right: Any, path: str = "") -> str | None:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right), key=str):
            if key not in left or key not in right:
                return f"{path}.{key}: only in {'kubectl' if key in left else 'built-in'}"
            found = first_difference(left[key], right[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return f"{path}: {len(left)} items (kubectl) vs {len(right)} (built-in)"
        for index, (a, b) in enumerate(zip(left, right)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if left == right else f"{path}: {left!r} (kubectl) vs {right!r} (built-in)"


def check_renderer_drift(root: Path, kubectl: str, report: Report,
                         kubectl_output: dict[str, list[dict]] | None = None) -> None:
    """kubectl_output: targets already rendered by kubectl, reused instead of rendering again."""
    for target in TARGETS:
        if target.synthetic:
            write_synthetic(root, target)
        directory = root / target.path
        try:
            objects = (kubectl_output or {}).get(target.name) or render_kubectl(kubectl, directory)
            expected = {identity(o): o for o in objects}
            actual = {identity(o): o for o in render_builtin(directory)}
        except RenderError as exc:
            report.fail(target.path, f"drift test could not render: {exc}")
            continue
        for key in sorted(set(expected) | set(actual)):
            if key not in actual or key not in expected:
                report.fail(target.path, f"{key[1]}/{key[3]} rendered only by "
                                         f"{'kubectl' if key in expected else 'the built-in renderer'}")
                continue
            difference = first_difference(expected[key], actual[key])
            if difference:
                report.fail(target.path, f"{key[1]}/{key[3]}: built-in renderer differs from kubectl: {difference}")
    report.ran(f"drift: built-in renderer output equals `kubectl kustomize` on {len(TARGETS)} targets")
