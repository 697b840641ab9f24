"""contrib/prometheus/logbot.rules.yml: valid rules over metrics logbot really exposes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import generate_latest
from twisted.internet import task

from logbot.metrics import Metrics

RULES = Path(__file__).parent.parent / "contrib" / "prometheus" / "logbot.rules.yml"
#: what Prometheus itself adds; everything else a rule names must come from logbot
PROMETHEUS_OWN = {"up"}


def exposed_names() -> set[str]:
    """Every metric family name on /metrics (HELP and TYPE lines name even empty ones)."""
    exposition = generate_latest(Metrics(task.Clock()).registry).decode()
    return set(re.findall(r"^# TYPE (\S+) ", exposition, flags=re.MULTILINE))


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    (group,) = document["groups"]
    assert group["name"] == "logbot"
    result: list[dict[str, Any]] = group["rules"]
    return result


def test_every_rule_is_a_complete_alert() -> None:
    """Each rule has a name, an expression, a duration, a severity and a summary."""
    for rule in rules():
        assert re.fullmatch(r"Logbot[A-Za-z]+", rule["alert"]), rule
        assert isinstance(rule["expr"], str)
        assert rule["expr"].strip()
        assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def test_rules_name_only_metrics_logbot_exposes() -> None:
    """A rule over a renamed or misspelled metric would never fire: every logbot_ name in
    an expression is one /metrics shows."""
    names = exposed_names()
    for rule in rules():
        used = set(re.findall(r"\b(logbot_[a-z_]+)\b", rule["expr"]))
        assert used <= names, (rule["alert"], used - names)
        others = set(re.findall(r"\b([a-z_]+)\{", rule["expr"])) - used
        assert others <= PROMETHEUS_OWN, others


def test_the_silent_channel_alert_is_there() -> None:
    """The rule the issue asks for: no line in a channel for N hours."""
    silent = [r for r in rules() if r["alert"] == "LogbotChannelSilent"]
    assert silent
    for rule in silent:
        assert re.match(r"logbot_seconds_since_last_event\{.*\} > ", rule["expr"])
