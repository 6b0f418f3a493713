"""The report (problems and the checks that ran) and the YAML and path helpers
every check uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Report:
    """Collects problems (which fail the run) and the list of checks that ran."""

    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def ran(self, what: str) -> None:
        self.checks.append(what)

    def extend(self, other: Report) -> None:
        self.problems.extend(other.problems)
        self.checks.extend(other.checks)


#: libyaml's loader when PyYAML has it (several times faster), else pure Python.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_text(text: str) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=YAML_LOADER) if doc is not None]


def load_yaml_file(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=YAML_LOADER)


def load_yaml_docs(path: Path) -> list[dict]:
    return load_yaml_text(path.read_text(encoding="utf-8"))


def rel(root: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
