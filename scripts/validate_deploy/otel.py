"""The OpenTelemetry settings the api and the worker receive (shared/telemetry
reads them in both binaries), checked alike in docker-compose.yml and k8s/."""

from __future__ import annotations

import re
from typing import Callable

from .report import Report


#: Base URL of the OTLP collector; empty exports nothing.
OTEL_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
#: http/protobuf (empty: the default) or grpc.
OTEL_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_PROTOCOLS = ("", "http/protobuf", "grpc")
#: Service name on the exported spans; the api's and the worker's must differ.
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
#: Headers (a collector's credentials) sent with every export.
OTEL_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"


def otlp_endpoint_problem(value: str, protocol: str = "") -> str | None:
    """Why an OTEL_EXPORTER_OTLP_ENDPOINT value would not reach a collector over
    `protocol` (OTEL_EXPORTER_OTLP_PROTOCOL); None if it would (or is empty)."""
    value = value.strip()
    if not value:
        return None
    match = re.fullmatch(r"https?://[^/:\s]+(?::(\d+))?(/\S*)?", value)
    if not match:
        return f"{value!r} must be an http:// or https:// base URL, or empty"
    if (match.group(2) or "").rstrip("/").endswith("/v1/traces"):
        return f"{value!r} must be the collector's base URL: the exporter appends /v1/traces"
    grpc = protocol.strip() == "grpc"
    if match.group(1) == "4317" and not grpc:
        return (f"{value!r} is the OTLP/gRPC port; set {OTEL_PROTOCOL}=grpc, or use the OTLP/HTTP port "
                "(4318)")
    if match.group(1) == "4318" and grpc:
        return f"{value!r} is the OTLP/HTTP port, but {OTEL_PROTOCOL} is grpc (4317)"
    return None


def check_otel_settings(envs: dict[str, dict[str, str | None]], where: Callable[[str], str],
                        report: Report) -> None:
    """envs: the api's and the worker's environment (None: a value from valueFrom).

    Both must receive OTEL_EXPORTER_OTLP_ENDPOINT (possibly empty, so export is
    turned on in one place), the same one, and each its own OTEL_SERVICE_NAME;
    and OTEL_EXPORTER_OTLP_HEADERS, from a Secret or the shell (None or empty
    here), never a credential written into the deploy files."""
    for name, env in envs.items():
        if OTEL_HEADERS not in env:
            report.fail(where(name), f"{OTEL_HEADERS} is not passed; pass it from the Secret (or the shell) "
                                     "so a collector that wants a key gets it from both")
        elif env[OTEL_HEADERS]:
            report.fail(where(name), f"{OTEL_HEADERS} is written into the deploy files; it holds credentials: "
                                     "take it from a Secret (or the shell)")
        protocol = env.get(OTEL_PROTOCOL) or ""
        if OTEL_PROTOCOL not in env:
            report.fail(where(name), f"{OTEL_PROTOCOL} is not passed; set it (empty: http/protobuf) so "
                                     "the api and the workers speak to the collector alike")
        elif protocol.strip() not in OTEL_PROTOCOLS:
            report.fail(where(name), f"{OTEL_PROTOCOL} {protocol!r} is not one of http/protobuf, grpc")
        if OTEL_ENDPOINT not in env:
            report.fail(where(name), f"{OTEL_ENDPOINT} is not passed; set it (empty exports nothing) so "
                                     "span export is turned on in one place")
        elif env[OTEL_ENDPOINT] is not None and (
                problem := otlp_endpoint_problem(env[OTEL_ENDPOINT], protocol)):
            report.fail(where(name), f"{OTEL_ENDPOINT}: {problem}")
        if OTEL_SERVICE_NAME not in env or env[OTEL_SERVICE_NAME] == "":
            report.fail(where(name), f"{OTEL_SERVICE_NAME} is missing or empty")
    api, worker = envs.get("api", {}), envs.get("worker", {})
    if OTEL_ENDPOINT in api and OTEL_ENDPOINT in worker and api[OTEL_ENDPOINT] != worker[OTEL_ENDPOINT]:
        report.fail(where("worker"), f"{OTEL_ENDPOINT} {worker[OTEL_ENDPOINT]!r} differs from the api's "
                                     f"{api[OTEL_ENDPOINT]!r}; one trace spans both")
    if OTEL_PROTOCOL in api and OTEL_PROTOCOL in worker and api[OTEL_PROTOCOL] != worker[OTEL_PROTOCOL]:
        report.fail(where("worker"), f"{OTEL_PROTOCOL} {worker[OTEL_PROTOCOL]!r} differs from the api's "
                                     f"{api[OTEL_PROTOCOL]!r}")
    if api.get(OTEL_SERVICE_NAME) and api.get(OTEL_SERVICE_NAME) == worker.get(OTEL_SERVICE_NAME):
        report.fail(where("worker"), f"{OTEL_SERVICE_NAME} {worker[OTEL_SERVICE_NAME]!r} is the api's too; "
                                     "their spans must be told apart")
