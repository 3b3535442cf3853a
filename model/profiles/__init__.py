"""Rule sets.  ``kacs`` is the model of PSD-004 v0.22 (the default).  The
Windows NT reference profile (issue 8) will add ``nt``."""

from __future__ import annotations

from model.rules.registry import Rule

PROFILE_NAMES = ("kacs", "nt")


def get_profile(name: str) -> dict[str, Rule]:
    """The rules of profile ``name`` (raises KeyError with the known names)."""
    if name not in PROFILE_NAMES:
        raise KeyError(f"unknown profile {name!r} (known: {', '.join(PROFILE_NAMES)})")
    if name == "nt":
        from model.profiles.nt import rules as nt_rules

        return nt_rules()
    from model.profiles.kacs import rules

    return rules()

