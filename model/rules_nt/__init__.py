"""The Windows NT reference rules (issue 8, ../shared/spec/nt-reference.md).

Only the rules where NT differs from KACS live here; ``model.profiles.nt``
starts from the KACS rule set and replaces these.  Each NT rule is written in
the same single-source style as ``model.rules`` (value layer only), either

* as a KACS rule function whose globals are rebound so that one helper is the
  NT helper (``rebind``, the technique of ``tokenproof.mutants``), or
* as a new function declared with ``nt_rule``, which registers into
  ``NT_RULES`` (never into ``model.rules.RULES``).

NTSTATUS values are mapped to errno-like model values >= 100 (``NT_ERRNO``);
``NT_ERRNO_NAMES`` is merged into ``model.domain.ERRNO_NAMES`` when this
package is imported (only new keys are added; KACS never produces them), so
renderers and the trace parser print and read the NT names.
"""

from __future__ import annotations

import types
from dataclasses import replace
from typing import Any, Callable

from model import domain as D
from model.rules.registry import Arg, Rule
from model.step import Outcome
from model.values import BV

# ------------------------------------------------------------------ NTSTATUS -> errno-like values
STATUS_NO_TOKEN = BV(100, D.ERRNO_W)  # 0xC000007C
STATUS_CANT_OPEN_ANONYMOUS = BV(101, D.ERRNO_W)  # 0xC00000A6
STATUS_NOT_ALL_ASSIGNED = BV(102, D.ERRNO_W)  # 0x00000106 (success class: effects are applied)
STATUS_BAD_IMPERSONATION_LEVEL = BV(103, D.ERRNO_W)  # 0xC00000A5

NT_ERRNO_NAMES: dict[int, str] = {
    100: "STATUS_NO_TOKEN",
    101: "STATUS_CANT_OPEN_ANONYMOUS",
    102: "STATUS_NOT_ALL_ASSIGNED",
    103: "STATUS_BAD_IMPERSONATION_LEVEL",
}
for _k, _v in NT_ERRNO_NAMES.items():
    D.ERRNO_NAMES.setdefault(_k, _v)


def errno_names() -> dict[int, str]:
    """KACS errno names plus the NT status names (for renderers)."""
    return {**D.ERRNO_NAMES, **NT_ERRNO_NAMES}


# ------------------------------------------------------------------ building NT rules
NT_RULES: dict[str, Rule] = {}


def nt_rule(name: str, *, family: str, sections: tuple[str, ...], args: tuple[Arg, ...] = (),
            kernel: bool = False, clauses: tuple[str, ...] = ()) -> Callable:
    """Like ``model.rules.registry.rule`` but registers into ``NT_RULES``.  ``sections``
    cite nt-reference.md (``NT §5.4``) and, where the KACS rule is the base, PSD-004."""

    def deco(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
        if name in NT_RULES:
            raise ValueError(f"NT rule {name} declared twice")
        NT_RULES[name] = Rule(name, fn, tuple(args), tuple(sections), family, kernel, tuple(clauses),
                              (fn.__doc__ or "").strip(), {"profile": "nt"})
        return fn

    return deco


def rebind(fn: Callable[..., Any], **helpers: Any) -> Callable[..., Any]:
    """``fn`` with some of the globals it calls replaced (same code object)."""
    for name in helpers:
        if name not in fn.__code__.co_names:
            raise ValueError(f"{fn.__name__} does not use {name}")
    new = types.FunctionType(fn.__code__, {**fn.__globals__, **helpers}, fn.__name__, fn.__defaults__,
                             fn.__closure__)
    new.__doc__ = fn.__doc__
    return new


def rebound_rule(base: Rule, note: str, sections: tuple[str, ...] = (), **helpers: Any) -> Rule:
    """The KACS rule ``base`` with helpers rebound, registered into ``NT_RULES``."""
    rule = replace(base, fn=rebind(base.fn, **helpers), sections=base.sections + tuple(sections),
                   doc=f"{base.doc}\n\nNT: {note}", extra={**base.extra, "profile": "nt", "rebound": sorted(helpers)})
    NT_RULES[base.name] = rule
    return rule


def load() -> dict[str, Rule]:
    """Import every NT rule module (registration by import) and return ``NT_RULES``."""
    from model.rules_nt import adjustment, creation, handles, impersonation, primary  # noqa: F401

    return NT_RULES


__all__ = ["NT_RULES", "NT_ERRNO_NAMES", "nt_rule", "rebind", "rebound_rule", "load", "errno_names",
           "STATUS_NO_TOKEN", "STATUS_CANT_OPEN_ANONYMOUS", "STATUS_NOT_ALL_ASSIGNED",
           "STATUS_BAD_IMPERSONATION_LEVEL"]
