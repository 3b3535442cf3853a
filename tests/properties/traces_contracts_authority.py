"""Concrete traces (standard world) for the seeded mutants of ``properties/contracts_authority.py``:
mutant name -> (property id, steps); merged into ``test_mutants_concrete.MUTANT_TRACES``."""

TRACES: dict = {}
