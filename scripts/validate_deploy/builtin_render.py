"""The built-in kustomize renderer: exactly the kustomize features k8s/ uses.
Anything else raises UnsupportedFeature instead of rendering something subtly
different; the drift test compares it with kubectl kustomize on every target."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .names import CLUSTER_SCOPED_KINDS, WORKLOAD_KINDS
from .report import load_yaml_docs, load_yaml_file


class RenderError(Exception):
    """A kustomization could not be rendered."""


class UnsupportedFeature(RenderError):
    """The built-in renderer does not implement a kustomize feature a file uses."""


def identity(obj: dict) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("apiVersion")), str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))


def api_group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "labels", "resources", "components", "images", "patches"}
#: Strategic-merge keys of the lists the patches touch, for built-in kinds.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name",
}
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io"}
TEMPLATE_LABEL_PATHS = {
    **{kind: (("spec", "template", "metadata", "labels"),) for kind in WORKLOAD_KINDS | {"ReplicationController"}},
    "CronJob": (("spec", "jobTemplate", "metadata", "labels"),
                ("spec", "jobTemplate", "spec", "template", "metadata", "labels")),
}


def load_kustomization(directory: Path) -> dict:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            data = load_yaml_file(path) or {}
            unknown = set(data) - SUPPORTED_FIELDS
            if unknown:
                raise UnsupportedFeature(f"{path}: built-in renderer does not support {sorted(unknown)}")
            return data
    raise RenderError(f"{directory}: no kustomization file")


def render_builtin(directory: Path) -> list[dict]:
    kustomization = load_kustomization(directory)
    if kustomization.get("kind", "Kustomization") != "Kustomization":
        raise RenderError(f"{directory}: a {kustomization.get('kind')} cannot be built on its own")
    return accumulate(directory, kustomization, [])


def accumulate(directory: Path, kustomization: dict, objects: list[dict]) -> list[dict]:
    """Resources, then components, then this kustomization's transformers."""
    objects = list(objects)
    for entry in kustomization.get("resources") or []:
        path = directory / entry
        objects.extend(render_builtin(path) if path.is_dir() else load_yaml_docs(path))
    seen: set = set()
    for obj in objects:
        if identity(obj) in seen:
            raise RenderError(f"{directory}: duplicate object {identity(obj)}")
        seen.add(identity(obj))
    for entry in kustomization.get("components") or []:
        component_dir = directory / entry
        component = load_kustomization(component_dir)
        if component.get("kind") != "Component":
            raise RenderError(f"{component_dir}: components must be kind Component")
        objects = accumulate(component_dir, component, objects)
    return transform(directory, kustomization, objects)


def transform(directory: Path, kustomization: dict, objects: list[dict]) -> list[dict]:
    objects = copy.deepcopy(objects)
    for patch in kustomization.get("patches") or []:
        apply_patch_file(directory, patch, objects)
    if kustomization.get("namespace"):
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED_KINDS:
                obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    for label_set in kustomization.get("labels") or []:
        apply_labels(label_set, objects)
    for image in kustomization.get("images") or []:
        for obj in objects:
            set_images(obj, image)
    return objects


def apply_patch_file(directory: Path, patch: dict, objects: list[dict]) -> None:
    if set(patch) != {"path"}:
        raise UnsupportedFeature(f"{directory}: built-in renderer supports only `patches: - path: <file>`")
    for doc in load_yaml_docs(directory / patch["path"]):
        meta = doc.get("metadata") or {}
        matches = [obj for obj in objects
                   if obj.get("kind") == doc.get("kind")
                   and api_group(str(obj.get("apiVersion"))) == api_group(str(doc.get("apiVersion")))
                   and obj["metadata"].get("name") == meta.get("name")
                   and (not meta.get("namespace") or obj["metadata"].get("namespace") == meta["namespace"])]
        if len(matches) != 1:
            raise RenderError(f"{directory / patch['path']}: patch matches {len(matches)} objects, expected 1")
        target = matches[0]
        builtin = api_group(str(target.get("apiVersion"))) in BUILTIN_GROUPS
        strategic_merge(target, {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}, builtin)


def strategic_merge(target: dict, patch: dict, builtin: bool) -> None:
    """Strategic merge patch: maps merge, null deletes, keyed lists merge by key."""
    for key, value in patch.items():
        if isinstance(key, str) and key.startswith("$"):
            raise UnsupportedFeature(f"patch directive {key} is not supported")
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic_merge(target[key], value, builtin)
        elif isinstance(value, list) and isinstance(target.get(key), list) and builtin and merge_key(key, value):
            merge_list(target[key], value, merge_key(key, value), builtin)
        else:
            target[key] = copy.deepcopy(value)


def merge_key(field_name: str, items: list) -> str | None:
    if field_name == "ports" and items and isinstance(items[0], dict):
        return "containerPort" if "containerPort" in items[0] else "port"
    return MERGE_KEYS.get(field_name)


def merge_list(target: list, patch: list, key: str, builtin: bool) -> None:
    for item in patch:
        existing = next((t for t in target if isinstance(t, dict) and t.get(key) == item.get(key)), None)
        if existing is None:
            target.append(copy.deepcopy(item))
        else:
            strategic_merge(existing, item, builtin)


def apply_labels(label_set: dict, objects: list[dict]) -> None:
    if label_set.get("includeSelectors"):
        raise UnsupportedFeature("labels.includeSelectors: true is not supported by the built-in renderer")
    pairs = label_set.get("pairs") or {}
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        if label_set.get("includeTemplates"):
            for path in TEMPLATE_LABEL_PATHS.get(obj.get("kind"), ()):
                node = obj
                for part in path:
                    node = node.setdefault(part, {})
                node.update(pairs)


def split_image(reference: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference; the registry may carry a port."""
    name, _, digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, digest


def set_images(node: Any, image: dict) -> None:
    """The images transformer: rewrite every container image whose name matches."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        container["image"] = new_image(container["image"], image)
            else:
                set_images(value, image)
    elif isinstance(node, list):
        for item in node:
            set_images(item, image)


def new_image(reference: str, image: dict) -> str:
    name, tag, digest = split_image(reference)
    if name != image.get("name"):
        return reference
    name = image.get("newName", name)
    if image.get("digest"):
        return f"{name}@{image['digest']}"
    if image.get("newTag") is not None:
        return f"{name}:{image['newTag']}"
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
