"""Prove the property catalog: induction first, then BMC for what induction
cannot settle, so every property ends as proved, refuted (with a replayed
counterexample written to ``counterexamples/``) or unknown (with the reason)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable

from model.profiles import get_profile
from model.scenarios import SCENARIOS
from properties.base import CATALOG, Property
from tokenproof.prover import InductionProver, ProofResult


def load_catalog() -> dict[str, Property]:
    import properties.catalog  # noqa: F401  (registers every property)

    return CATALOG


def select(catalog: dict[str, Property], ids: list[str] | None) -> list[Property]:
    if not ids:
        return [catalog[k] for k in sorted(catalog)]
    missing = [i for i in ids if i not in catalog]
    if missing:
        import difflib

        hints = {m: difflib.get_close_matches(m, list(catalog), n=3) for m in missing}
        raise KeyError("; ".join(f"unknown property {m!r}" + (f" (did you mean {', '.join(h)}?)" if h else "")
                                 for m, h in hints.items()))
    return [catalog[i] for i in ids]


def bmc_available() -> bool:
    return importlib.util.find_spec("tokenproof.bmc") is not None


def settle_by_bmc(result: ProofResult, rules, scenario: str, depth: int, timeout_ms: int,
                  out_dir: Path | None, profile: str) -> ProofResult:
    """For a property induction could not prove: look for a real counterexample from the initial world."""
    if not bmc_available():
        return result
    from tokenproof import bmc

    found = bmc.check(result.prop, rules=rules, scenario=scenario, depth=depth, timeout_ms=timeout_ms)
    if found.verdict == "refuted":
        result.verdict = "refuted"
        result.counterexample = found
        result.detail = f"counterexample of {found.depth} step(s) from the {scenario} world (replayed)"
        if out_dir is not None and hasattr(bmc, "write_counterexample"):
            result.counterexample_file = str(bmc.write_counterexample(found, out_dir, profile=profile))
    elif found.verdict == "unknown":
        result.detail += f"; BMC: {found.reason}"
    else:
        result.detail += f"; no counterexample up to depth {depth}"
    return result


def prove_catalog(profile: str = "kacs", ids: list[str] | None = None, timeout_ms: int = 10000,
                  depth: int = 3, scenario: str = "standard", out_dir: Path | None = None,
                  progress: Callable[[str], None] | None = None,
                  on_result: Callable[[ProofResult], None] | None = None) -> list[ProofResult]:
    rules = get_profile(profile)
    catalog = load_catalog()
    chosen = select(catalog, ids)
    init = SCENARIOS[scenario]().state
    prover = InductionProver(rules, catalog, init, timeout_ms=timeout_ms, profile=profile)
    results = []
    for prop in chosen:
        res = prover.prove(prop, progress)
        if res.verdict != "proved" and prop.kind != "access":
            res = settle_by_bmc(res, rules, scenario, depth, timeout_ms, out_dir, profile)
        results.append(res)
        if on_result:
            on_result(res)
    return results
