"""Seeded mutants for the rule contracts in ``properties/contracts_authority.py`` (registered with ``seed``)."""

from __future__ import annotations

from tokenproof.mutants import Mutant, seed  # noqa: F401
