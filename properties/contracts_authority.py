"""Rule contracts (authority): the spec's guards and effects stated as transition properties,
so that a rule mutant that drops a guard, reorders its errnos or skips an effect
is refuted by the catalog (issue 6, docs/mutation-survivors.md)."""

from __future__ import annotations

__all__: list[str] = []
