"""Shortcuts: restrictions of a BMC query, tried by a second solver lane.

A shortcut adds constraints to a depth's query, so each of its models is a model
of the query: a satisfiable shortcut is a counterexample of that depth (a
shortest one, since every shallower depth was answered by the whole query), an
unsatisfiable one says nothing.  ``run_bmc(jobs=2)`` races the one-lane path
(the query without the deferred rules, then the whole query) against a lane
that tries the ``LADDER`` (``tokenproof.portfolio``); verdicts and depths are
the whole query's.

Each shortcut keeps a kind of trace the seeded mutants' counterexamples are
made of, and removes a choice the solver otherwise spends its time on.
Measured (CPU, one query alone): the depth-4 query of
install-ignores-the-user-check takes 32-67 s whole and 4-5 s with all three
(z3's default solver; 1.3 s with the bit-vector pipeline BMC now uses on ``bv``
queries, ``tokenproof.unrolling.new_solver(qfbv=True)``);
ioctl-impersonate-skips-the-restricted-hard-deny's depth-4 trace needs a
non-plain request, so the first rung is unsatisfiable (1.3 s) and the second
finds it (2.5 s, against 5-7.5 s whole).  A trace with two actors (e.g.
impersonate-peer-gates-on-effective-token) is out of every rung's reach: both
are unsatisfiable (4-5 s each at depth 4) while lane 0 finds it.

* ``one_actor``: every step is taken by the last step's actor.
* ``fresh_tokens_by_position``: the fresh token a step allocates (a rule's
  ``fresh`` Token argument: a created, duplicated, restricted or forked token) is
  fixed by the step's position instead of chosen: the last ``n`` steps get the
  ``n`` interchangeable fresh tokens in order, earlier steps the first one.
  A trace allocating more than one token among those earlier steps, or
  re-using a dead world token, is cut.
* ``plain_requests``: every argument that declares a plain value (``Arg.plain``)
  takes it: a ``kacs_create_token`` request without caller groups, restricting
  SIDs or confinement, owned by its user (§4.4).
* the first rung also takes no ``ioctl_duplicate`` or ``ioctl_restrict`` step
  (with ``kacs_create_token``, the largest part of the encoding): 3.7-4.7 s
  against 6.3-7.9 s for install-ignores-the-user-check's depth-4 query.
"""

from __future__ import annotations

from typing import Any, Callable

import z3

from tokenproof.reductions import interchangeable


def one_actor(unr: Any, k: int) -> list[Any]:
    """Steps ``0..k-2`` are taken by step ``k-1``'s actor (a kernel step ignores its actor)."""
    last = unr.steps[k - 1].actor
    return [unr.steps[j].actor == last for j in range(k - 1)]


def fresh_tokens_by_position(unr: Any, k: int, sort: str = "Token") -> list[Any]:
    """Step ``j``'s fresh ``sort`` arguments are ``e[max(0, j - (k - n))]`` of the largest class
    ``e[0..n-1]`` of interchangeable fresh elements (``tokenproof.reductions.interchangeable``)."""
    classes = interchangeable(unr.init, unr.world, [sort]).get(sort, [])
    if not classes:
        return []
    elems = [unr.emb.to_elem[sort][i] for i in max(classes, key=len)]
    n = len(elems)
    out = []
    for j in range(k):
        target = elems[max(0, j - (k - n))]
        for name, rule in unr.rules.items():
            for a in rule.args:
                if a.fresh and a.type.sort == sort:
                    out.append(unr.steps[j].args[name][a.name] == target)
    return out


def plain_requests(unr: Any, k: int) -> list[Any]:
    """Every argument with a plain value (``Arg.plain``) takes it, at steps ``0..k-1``."""
    out = []
    for j in range(k):
        for name, rule in unr.rules.items():
            for a in rule.args:
                if a.plain is None:
                    continue
                v = unr.steps[j].args[name][a.name]
                out.append(v == (z3.BoolVal(bool(a.plain)) if z3.is_bool(v) else z3.BitVecVal(a.plain, v.size())))
    return out


#: the shortcuts a second lane tries, most restrictive first: (name, constraints, rules no step takes)
LADDER: tuple[tuple[str, tuple[Callable[[Any, int], list[Any]], ...], tuple[str, ...]], ...] = (
    ("one actor, fresh tokens by position, plain requests, no duplicate or restrict step",
     (one_actor, fresh_tokens_by_position, plain_requests), ("ioctl_duplicate", "ioctl_restrict")),
    ("one actor, fresh tokens by position", (one_actor, fresh_tokens_by_position), ()),
)


def ladder(unr: Any, k: int, query: list[Any]) -> list[tuple[str, list[Any]]]:
    """The ``LADDER``'s restrictions of the depth-``k`` query (none at depth 0).  A rung's excluded
    rules are rewritten out of the query (``tokenproof.bmc.without_rules``), so z3 drops their
    branches before bit-blasting."""
    from tokenproof.bmc import without_rules

    if k == 0:
        return []
    out = []
    for name, parts, excluded in LADDER:
        base = without_rules(query, unr, k, excluded) if excluded else None
        out.append((name, [*(query if base is None else base), *[c for make in parts for c in make(unr, k)]]))
    return out


__all__ = ["one_actor", "fresh_tokens_by_position", "plain_requests", "LADDER", "ladder"]
