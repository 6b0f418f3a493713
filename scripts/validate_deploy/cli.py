"""Command line: parses the flags, runs the sections, the drift test and the
self-test, prints the report and returns the exit status."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from . import __doc__ as PACKAGE_DOC
from .crd_import import import_crd
from .drift import check_renderer_drift
from .names import K8S_VERSION, ROOT
from .render import kubectl_usable
from .report import Report
from .schemas import Schemas
from .sections import validate_section
from .self_test import self_test


def resolve_renderer(choice: str) -> tuple[str | None, str | None]:
    """(kubectl for rendering or None for built-in, kubectl for the drift test)."""
    candidate = os.environ.get("VALIDATE_DEPLOY_KUBECTL") or shutil.which("kubectl")
    kubectl = kubectl_usable(candidate)
    if choice == "kubectl" and not kubectl:
        raise SystemExit("validate_deploy: --renderer kubectl, but no kubectl with kustomize v4+ was found")
    return (None if choice == "builtin" else kubectl), kubectl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=PACKAGE_DOC.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--self-test", action="store_true", help="only run the self-test (mutated copies must fail)")
    parser.add_argument("--no-self-test", action="store_true", help="skip the self-test")
    parser.add_argument("--renderer", choices=("auto", "kubectl", "builtin"), default="auto",
                        help="kustomize renderer: kubectl kustomize when available (auto), or the built-in one")
    parser.add_argument("--import-crd", metavar="CRD_YAML", type=Path,
                        help="maintenance: convert a CRD into k8s/schemas/ JSON schemas and exit")
    parser.add_argument("--crd-source", default="a KEDA release", help="provenance note for --import-crd")
    args = parser.parse_args(argv)

    if args.import_crd:
        import_crd(args.import_crd, ROOT / "k8s" / "schemas", args.crd_source)
        return 0

    renderer, drift_kubectl = resolve_renderer(args.renderer)
    schemas = Schemas(ROOT, K8S_VERSION)
    report = Report()
    renderer_name = f"kubectl kustomize ({renderer})" if renderer else "built-in renderer"
    if not args.self_test:
        checked, rendered = validate_section(ROOT, "all", schemas, renderer)
        report.extend(checked)
        if drift_kubectl:
            check_renderer_drift(ROOT, drift_kubectl, report, rendered if renderer else None)
        else:
            report.ran("drift: skipped (no kubectl with kustomize v4+; rendered with the built-in renderer)")
    if args.self_test or not args.no_self_test:
        self_test(ROOT, schemas, renderer, report)

    print(f"validate-deploy: rendered with {renderer_name}; schemas: Kubernetes {K8S_VERSION} (strict), k8s/schemas")
    for line in report.checks:
        print(f"  ok  {line}")
    for problem in report.problems:
        print(f"  FAIL {problem}", file=sys.stderr)
    verdict = "FAILED" if report.problems else "passed"
    print(f"validate-deploy: {verdict}: {len(report.checks)} checks, {len(report.problems)} problems")
    return 1 if report.problems else 0
