"""RabbitMQ configuration: settings of deploy/rabbitmq/rabbitmq.conf and the
consumer_timeout a run's unacked delivery must stay within."""

from __future__ import annotations

from pathlib import Path

from .names import RABBITMQ_CONF
from .report import Report


def rabbitmq_conf_setting(text: str, key: str) -> str | None:
    """A setting of a rabbitmq.conf (sysctl format) text; None if unset."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            if name == key:
                return value
    return None


def rabbitmq_setting(root: Path, key: str) -> str | None:
    path = root / RABBITMQ_CONF
    return rabbitmq_conf_setting(path.read_text(), key) if path.is_file() else None


def check_consumer_timeout(root: Path, env: dict[str, str], where: str, report: Report,
                           conf_text: str | None = None, conf_where: str = RABBITMQ_CONF) -> None:
    """A run's delivery stays unacked for the whole run: consumer_timeout must outlast it.
    conf_text: the rabbitmq.conf to check (default: the shipped one, RABBITMQ_CONF)."""
    timeout = (rabbitmq_setting(root, "consumer_timeout") if conf_text is None
               else rabbitmq_conf_setting(conf_text, "consumer_timeout"))
    if timeout is None:
        report.fail(conf_where, "consumer_timeout is not set")
        return
    longest_s = int(env.get("RUN_TIMEOUT_MAX_S") or 3600) + int(env.get("SHUTDOWN_GRACE_S") or 30)
    if not timeout.isdigit() or int(timeout) <= longest_s * 1000:
        report.fail(f"{conf_where}: consumer_timeout",
                    f"{timeout} ms must exceed RUN_TIMEOUT_MAX_S + SHUTDOWN_GRACE_S = {longest_s} s "
                    f"({where})")
    report.ran(f"rabbitmq: consumer_timeout of {conf_where} outlasts the longest run ({where})")
