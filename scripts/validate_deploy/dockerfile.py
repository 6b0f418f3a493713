"""The Dockerfile: its stages, and the api, worker and cli targets (debian-slim,
non-root, ENTRYPOINT, HEALTHCHECK), and .dockerignore."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .report import Report


DOCKERFILE = "Dockerfile"
DOCKER_TARGETS = {
    "api": {"entrypoint": "agent-runner-api", "healthcheck": "agent-runner-api", "expose": "8080"},
    "worker": {"entrypoint": "agent-runner-worker", "healthcheck": "agent-runner-worker", "expose": "9090",
               "packages": ("git",)},
    "cli": {"entrypoint": "agent-runner"},
}


@dataclass
class Stage:
    """One FROM ... AS name section of a Dockerfile."""

    name: str
    base: str
    instructions: list[tuple[str, str]]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, args = line.partition(" ")
            out.append((word.upper(), args.strip()))
    return out


def dockerfile_stages(text: str) -> dict[str, Stage]:
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for word, rest in dockerfile_instructions(text):
        if word == "ARG" and current is None:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif word == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest.split()[0])
            match = re.search(r"\s+AS\s+(\S+)", rest, re.IGNORECASE)
            current = Stage(match.group(1) if match else f"stage{len(stages)}", base, [])
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((word, rest))
    return stages


def stage_chain(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, nearest first."""
    chain = []
    while name in stages and len(chain) <= len(stages):
        chain.append(stages[name])
        name = stages[name].base
    return chain


def check_dockerfile_target(stages: dict[str, Stage], target: str, spec: dict, report: Report) -> None:
    where = f"{DOCKERFILE}: stage {target}"
    chain = stage_chain(stages, target)
    image = chain[-1].base
    if not re.fullmatch(r"debian:[a-z]+-slim", image):
        report.fail(where, f"final image is built on {image}, expected debian:<release>-slim")
    instructions = [ins for stage in reversed(chain) for ins in stage.instructions]
    users = [args for word, args in instructions if word == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        report.fail(f"{where}: USER", "must switch to a non-root user")
    entrypoints = [args for word, args in instructions if word == "ENTRYPOINT"]
    if not entrypoints or spec["entrypoint"] not in entrypoints[-1]:
        report.fail(f"{where}: ENTRYPOINT", f"must run {spec['entrypoint']}")
    if "healthcheck" in spec:
        checks = [args for word, args in instructions if word == "HEALTHCHECK"]
        command = rf'{re.escape(spec["healthcheck"])}"?\s*,?\s*"?healthcheck\b'
        if not checks or not re.search(command, checks[-1]):
            report.fail(f"{where}: HEALTHCHECK", f"must run `{spec['healthcheck']} healthcheck`")
    if "expose" in spec:
        exposed = " ".join(args for word, args in instructions if word == "EXPOSE").split()
        if spec["expose"] not in exposed:
            report.fail(f"{where}: EXPOSE", f"must expose {spec['expose']}")
    runs = " ".join(args for word, args in instructions if word == "RUN")
    for package in spec.get("packages", ()):
        if not re.search(rf"apt-get install[^&;]*\s{package}(\s|$)", runs):
            report.fail(f"{where}: RUN", f"must install {package}")
    if re.search(r"\b(build-essential|cargo|rustc|gcc)\b", runs):
        report.fail(f"{where}: RUN", "installs build tools in a runtime image")


def check_dockerfile(root: Path, report: Report) -> None:
    path = root / DOCKERFILE
    if not path.is_file():
        report.fail(DOCKERFILE, "does not exist")
        return
    stages = dockerfile_stages(path.read_text())
    builders = [stage for stage in stages.values() if stage.base.startswith("rust:")]
    if not builders or not any("cargo build --release --bins" in args
                               for stage in builders for _, args in stage.instructions):
        report.fail(DOCKERFILE, "needs a rust:<version> builder stage running `cargo build --release --bins`")
    for target, spec in DOCKER_TARGETS.items():
        if target not in stages:
            report.fail(DOCKERFILE, f"target {target!r} is missing")
        else:
            check_dockerfile_target(stages, target, spec, report)
    ignore = root / ".dockerignore"
    patterns = ignore.read_text().split() if ignore.is_file() else []
    for wanted in ("target", ".git", ".run"):
        if not any(p.strip("/") == wanted for p in patterns):
            report.fail(".dockerignore", f"must exclude {wanted}/")
    report.ran("Dockerfile: targets api, worker, cli on debian-slim, non-root, ENTRYPOINT, HEALTHCHECK")
