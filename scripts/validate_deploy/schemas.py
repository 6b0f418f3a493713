"""The schemas rendered objects are validated against: the Kubernetes OpenAPI
schemas (kubernetes-validate, strict) and k8s/schemas/ for KEDA's kinds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from importlib.resources import files as package_files
import jsonschema
import referencing


class Schemas:
    """Validators for built-in kinds (kubernetes-validate's strict schemas) and
    for KEDA kinds (k8s/schemas/*.json), built once and reused."""

    def __init__(self, root: Path, version: str):
        base = package_files("kubernetes_validate") / "kubernetes-json-schema"
        directory = base / f"v{version}-local-strict"
        if not directory.is_dir():
            known = sorted(p.name for p in base.iterdir())
            raise SystemExit(f"kubernetes-validate has no schemas for {version}; it has {known[:3]}...{known[-3:]}")
        self.version = version
        self.directory = directory
        definitions = referencing.Resource.from_contents(json.loads((directory / "_definitions.json").read_text()))
        self.registry = definitions @ referencing.Registry()
        self.validators: dict[tuple[str, str], Any] = {}
        self.custom: dict[tuple[str, str], Any] = {}
        self.trigger_metadata: dict[str, Any] = {}
        for path in sorted((root / "k8s" / "schemas").glob("*.json")):
            schema = json.loads(path.read_text())
            validator = jsonschema.Draft202012Validator(schema)
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                self.custom[(f"{gvk['group']}/{gvk['version']}", gvk["kind"])] = validator
            if "x-keda-trigger-type" in schema:
                self.trigger_metadata[schema["x-keda-trigger-type"]] = validator

    def validator_for(self, obj: dict) -> Any | None:
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        if key in self.custom:
            return self.custom[key]
        if key not in self.validators:
            api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", key[0])
            path = self.directory / f"{key[1].lower()}-{api_version}.json"
            if not path.is_file():
                self.validators[key] = None
            else:
                schema = json.loads(path.read_text())
                self.validators[key] = jsonschema.Draft202012Validator(schema, registry=self.registry)
        return self.validators[key]

    def errors(self, obj: dict) -> list[str]:
        validator = self.validator_for(obj)
        if validator is None:
            return [f"no schema for {obj.get('apiVersion')} {obj.get('kind')} "
                    f"(Kubernetes {self.version} or k8s/schemas/)"]
        found = [format_schema_error(error) for error in validator.iter_errors(obj)]
        for index, trigger in enumerate((obj.get("spec") or {}).get("triggers") or []):
            checker = self.trigger_metadata.get(trigger.get("type")) if isinstance(trigger, dict) else None
            if checker:
                found += [format_schema_error(error, f"spec.triggers[{index}].metadata")
                          for error in checker.iter_errors(trigger.get("metadata") or {})]
        return sorted(found)


def format_schema_error(error: Any, prefix: str = "") -> str:
    path = prefix
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{path or '<root>'}: {error.message}"
