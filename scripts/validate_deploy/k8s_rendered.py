"""A rendered kustomize target, with the lookups the Kubernetes checks share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .names import CONFIG_MAP
from .render import Target


@dataclass
class Rendered:
    """A rendered target with lookups the checks share."""

    root: Path
    target: Target
    objects: list[dict]
    sources: dict[tuple[str, str], list[str]]
    external_secrets: dict[str, set[str]]

    def find(self, kind: str, name: str) -> dict | None:
        return next((o for o in self.objects if o.get("kind") == kind and o["metadata"].get("name") == name), None)

    def of_kind(self, *kinds: str) -> list[dict]:
        return [o for o in self.objects if o.get("kind") in kinds]

    def where(self, obj: dict | None, kind: str = "", name: str = "") -> str:
        kind = obj.get("kind") if obj else kind
        name = obj["metadata"].get("name") if obj else name
        files = self.sources.get((kind, name)) or ["?"]
        return f"{self.target.path} {kind}/{name} [{', '.join(files)}]"

    def config(self) -> dict[str, str]:
        config_map = self.find("ConfigMap", CONFIG_MAP) or {}
        return {k: str(v) for k, v in (config_map.get("data") or {}).items()}


def pod_spec(obj: dict) -> dict:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def pod_labels(obj: dict) -> dict:
    return ((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")) or {}


def container(obj: dict, name: str) -> dict:
    return next((c for c in pod_spec(obj).get("containers") or [] if c.get("name") == name), {})
