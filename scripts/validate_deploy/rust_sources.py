"""Numbers read from the Rust sources instead of copied: the bounds of the
worker's shutdown steps, and the api's shutdown margin."""

from __future__ import annotations

import re
from pathlib import Path

from .names import ROOT


#: Where the api bounds stopping its background tasks after the drain.
API_BROKER_RS = ROOT / "services/api/src/background/broker.rs"
#: Where the worker's shutdown steps are bounded, read (not copied) below.
WORKER_RS = ROOT / "services/worker/src/worker.rs"
TELEMETRY_EXPORT_RS = ROOT / "shared/telemetry/src/otlp_http_client.rs"
#: The steps of the worker's shutdown bounded by STOP_STEP, in the order of
#: services/worker/src/worker.rs; a step added there must be named here.
WORKER_STOP_STEPS = (
    "stop consuming",
    "deregister the worker",
    "stop the heartbeat, cancel listener and probe server",
    "close the RabbitMQ connection",
)


def rust_duration_s(path: Path, name: str) -> int:
    """The seconds of `const NAME: Duration = Duration::from_secs(N);` in `path`."""
    match = re.search(rf"const {name}: Duration = Duration::from_secs\((\d+)\);", path.read_text())
    if match is None:
        raise SystemExit(f"validate-deploy: {path} has no `const {name}: Duration = Duration::from_secs(N)`")
    return int(match.group(1))


#: Seconds the api needs after SHUTDOWN_GRACE_S to stop its background tasks and
#: exit: the bound on closing its RabbitMQ connection, the one stop step with a
#: timeout (the others return at once, or write what is pending to PostgreSQL).
#: Unlike the worker's, it leaves out the span flush that follows (EXPORT_TIMEOUT).
SHUTDOWN_MARGIN_S = rust_duration_s(API_BROKER_RS, "CLOSE_TIMEOUT")


def worker_shutdown_steps_s() -> tuple[tuple[str, int], ...]:
    """The worker's shutdown after SIGTERM besides SHUTDOWN_GRACE_S (the drain
    of in-flight runs), step by step, with the bounds the code gives them:
    STOP_STEP and HAND_BACK_WAIT in services/worker/src/worker.rs, the span
    exporter's EXPORT_TIMEOUT in shared/telemetry. The span flush is counted
    even where export is off, so turning it on needs no other change."""
    source = WORKER_RS.read_text()
    stop_step = rust_duration_s(WORKER_RS, "STOP_STEP")
    bounded = source.count("timeout(STOP_STEP,")
    if bounded != len(WORKER_STOP_STEPS):
        raise SystemExit(f"validate-deploy: {WORKER_RS} bounds {bounded} shutdown steps by STOP_STEP; "
                         f"WORKER_STOP_STEPS names {len(WORKER_STOP_STEPS)}: name the new one")
    steps = [(what, stop_step) for what in WORKER_STOP_STEPS]
    steps.insert(1, ("hand the runs still executing back to RabbitMQ", rust_duration_s(WORKER_RS, "HAND_BACK_WAIT")))
    steps.append(("flush buffered spans", rust_duration_s(TELEMETRY_EXPORT_RS, "EXPORT_TIMEOUT")))
    return tuple(steps)


WORKER_SHUTDOWN_STEPS_S = worker_shutdown_steps_s()
#: Worst case of the above: a worker exits within SHUTDOWN_GRACE_S + this.
WORKER_SHUTDOWN_OVERHEAD_S = sum(seconds for _, seconds in WORKER_SHUTDOWN_STEPS_S)


def worker_shutdown_s(grace: int) -> int:
    """Longest a worker can take from SIGTERM to exit with SHUTDOWN_GRACE_S=grace."""
    return grace + WORKER_SHUTDOWN_OVERHEAD_S
