"""The KACS profile: every rule of ``model.rules`` as PSD-004 v0.22 states it."""

from __future__ import annotations

from model.rules import RULES
from model.rules.registry import Rule


def rules() -> dict[str, Rule]:
    return dict(RULES)
