"""The shape every rule has: guards returning errnos, then effects.

A rule receives a ``Step``.  It states its *model preconditions* with
``assume`` (the step is simply not enabled otherwise: a dead thread makes no
syscall, a fresh object must be unused), its *guards* with
``require(cond, errno)`` in the spec's order (the first failing guard decides
the errno, as a value), and its *effects* with ``set``/``set_where``/``set_row``.
Effects only take place when every guard passed; every field a rule does not
write stays unchanged by construction (TLA+'s UNCHANGED, for free).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from model import domain as D
from model.state import FIELDS, FieldView, State, Write
from model.values import _ExprRef, and_, eq, ite, not_

#: ``Step.finish`` on a concrete state applies the effects directly (no ``Write``
#: objects).  Tests switch it off to compare with the reference evaluation
#: (``State.with_writes`` of every ``Write``, one by one).
FAST_FINISH = True


@dataclass(slots=True)
class Outcome:
    """What one rule application produced."""

    pre: State
    post: State
    enabled: Any  # model Boolean: preconditions held (otherwise there is no step)
    errno: Any  # model BV8: 0 on success, else the spec's errno
    ret: dict[str, Any] = field(default_factory=dict)
    #: the fields the step may write although a guard fails: ``set_now`` effects (§7.1 used bits);
    #: a failing step changes no other field.  Set by the reference evaluation (symbolic steps, where
    #: BMC reads it); ``None``: not computed (the concrete fast path, an outcome built elsewhere)
    failure_writes: frozenset[str] | None = None

    @property
    def ok(self) -> Any:
        return and_(self.enabled, eq(self.errno, 0))


class Step:
    """Builder for one application of a rule by ``actor`` on ``pre``."""

    # (subclasses such as tokenproof.mutants.MutantStep get a __dict__ for their own attributes)
    __slots__ = ("pre", "actor", "args", "enabled", "errno", "_writes", "_drop_false", "_plain")

    def __init__(self, pre: State, actor: Any, args: dict[str, Any]):
        self.pre = pre
        self.actor = actor
        self.args = args
        self.enabled: Any = True
        self.errno: Any = D.OK
        # pending effects as (field, key tuple, value, when, where, rows): the fields of a ``Write``
        self._writes: list[tuple] = []
        # concrete fast path: an effect whose ``when`` is False is never applied, so it is not recorded
        self._drop_false = FAST_FINISH and pre.backend == "concrete"
        # every pending effect so far has ``when`` True (its final guard is then ``ok`` itself)
        self._plain = True

    # ------------------------------------------------------------ guards
    def assume(self, cond: Any) -> None:
        """A model precondition: without it the step does not exist."""
        self.enabled = and_(self.enabled, cond)

    def require(self, cond: Any, errno: Any) -> None:
        """A guard: if ``cond`` is false (and no earlier guard failed), fail with ``errno``."""
        cur = self.errno
        if not isinstance(cur, _ExprRef) and not isinstance(cond, _ExprRef):
            # concrete: the value of the expression below, without building it
            if cur == D.OK:
                self.errno = D.OK if cond else errno
            return
        self.errno = ite(eq(cur, D.OK), ite(cond, D.OK, errno), cur)

    @property
    def ok(self) -> Any:
        """All guards so far passed."""
        return eq(self.errno, D.OK)

    # ------------------------------------------------------------ effects
    def set(self, view: FieldView | str, key: Any, value: Any, when: Any = True) -> None:
        """``field[key] := value`` (if ``when``)."""
        if when is False and self._drop_false:
            return  # never applied (its guard is false whatever the others): no need to record it
        if when is not True:
            self._plain = False
        name = view if isinstance(view, str) else view.name
        keys = FIELDS[name].keys
        k = () if not keys else (key if isinstance(key, tuple) else (key,))
        self._writes.append((name, k, value, when, None, None))

    def set_now(self, view: FieldView | str, key: Any, value: Any) -> None:
        """An effect that happens if every guard *so far* passed, even if a later
        guard fails (e.g. a privilege's used bit once its gate accepted, §7.1)."""
        self.set(view, key, value, when=_Unguarded(self.ok))

    def set_scalar(self, name: str, value: Any, when: Any = True) -> None:
        self.set(name, None, value, when)

    def set_where(self, view: FieldView | str, fn: Callable[..., tuple[Any, Any]]) -> None:
        """For every key ``x`` with ``cond``: ``field[x] := value`` where ``fn(x) = (cond, value)``."""
        name = view if isinstance(view, str) else view.name
        self._writes.append((name, None, None, True, fn, None))

    def guarded(self, when: Any, make: Callable[[], None]) -> None:
        """Call ``make()``, a function that only records effects guarded by ``when`` (``set``,
        ``set_many``, ``set_scalar`` with ``when=when``), unless none of them can take place
        *and* none would be recorded: on the concrete fast path (``FAST_FINISH``, a plain
        ``Step``) when ``when`` is concretely False (``set`` drops such effects), when a model
        precondition already failed (``enabled`` is False: ``finish`` applies nothing) or when
        a guard already failed (a concrete errno other than OK: later guards keep it, and
        ``finish`` guards every such effect by ``ok``).  So the rule's reads for those effects
        are skipped, with the same outcome.  Everywhere else (symbolic states, where ``when``
        is a term; the reference ``finish``; subclasses such as mutants, which count effects)
        ``make`` is always called, so the terms and effects are those of calling it directly.
        This is the value layer's business (the rule does not branch on a model value)."""
        if self._drop_false and type(self) is Step:
            if when is False or self.enabled is False:
                return
            errno = self.errno
            if not isinstance(errno, _ExprRef) and errno != D.OK:
                return
        make()

    def set_where_match(self, view: FieldView | str, match: tuple[str, Any],
                        fn: Callable[[Any], tuple[Any, Any]]) -> None:
        """``set_where`` of a one-key field restricted to the keys ``x`` with ``field[x] == value``
        (``match = (field, value)``, ``field`` keyed by the same sort): for every ``x`` with
        ``and_(eq(field[x], value), cond)``, ``field[x] := value`` where ``fn(x) = (cond, value)``.
        Exactly ``set_where(view, lambda x: (and_(eq(field[x], value), cond), value))`` (the same
        terms; subclasses such as mutants go through ``set_where``); the concrete fast path
        evaluates ``fn`` only at the keys that match (the others write nothing)."""
        name = view if isinstance(view, str) else view.name
        mview, mvalue = self.pre.view(match[0]), match[1]

        def where(x: Any) -> tuple[Any, Any]:
            cond, value = fn(x)
            return and_(eq(mview[x], mvalue), cond), value

        if type(self) is Step and self._drop_false and not isinstance(mvalue, _ExprRef):
            (sort,) = FIELDS[name].keys
            ids = self.pre.universe[sort]  # type: ignore[attr-defined]
            rows = [x for x, v in zip(ids, map(mview.__getitem__, ids)) if v == mvalue]
            self._writes.append((name, None, None, True, where, rows))
            return
        self.set_where(name, where)

    def set_row(self, view: FieldView | str, first: Any, fn: Callable[[Any], tuple[Any, Any]]) -> None:
        """Bulk update of a two-key field restricted to ``first`` (e.g. one process's fd table)."""
        name = view if isinstance(view, str) else view.name
        spec = FIELDS[name]
        rows = None
        if self.pre.backend == "concrete":
            rows = [(first, k) for k in self.pre.universe[spec.keys[1]]]  # type: ignore[attr-defined]
        self._writes.append((name, None, None, True, lambda a, b: _row(a, b, first, fn), rows))

    def set_many(self, key: Any, values: dict[str, Any], when: Any = True) -> None:
        """Several fields of one object at once."""
        if type(self) is Step and self._drop_false:
            # ``self.set`` for every field, inlined (subclasses, e.g. mutants, go through ``set``)
            if when is False:
                return
            if when is not True:
                self._plain = False
            k = key if isinstance(key, tuple) else (key,)
            add = self._writes.append
            for name, value in values.items():
                add((name, k if FIELDS[name].keys else (), value, when, None, None))
            return
        for name, value in values.items():
            self.set(name, key, value, when)

    # ------------------------------------------------------------ result
    def finish(self, **ret: Any) -> Outcome:
        pre, enabled, errno = self.pre, self.enabled, self.errno
        apply_fast = getattr(pre, "_apply_fast", None) if FAST_FINISH else None
        if apply_fast is not None and not isinstance(enabled, _ExprRef) and not isinstance(errno, _ExprRef):
            # concrete: the same guards as below, then the effects applied directly
            if enabled is False:  # every guard below is and_(False, ...): no effect at all
                return Outcome(pre, pre, enabled, errno, ret)
            ok = and_(enabled, eq(errno, D.OK))
            writes = self._writes
            if self._plain:  # every guard below is ``and_(ok, True)``, i.e. ``ok``
                post = apply_fast(writes) if ok and writes else pre
                return Outcome(pre, post, enabled, errno, ret)
            applied = []
            touched = False  # some guard is not False (below: not ``all(w.when is False ...)``)
            for w in writes:
                when = w[3]
                if when is True:
                    when = ok  # and_(ok, True) for a concrete ok
                else:
                    when = and_(enabled, when.cond) if type(when) is _Unguarded else and_(ok, when)
                if when is False:
                    continue
                touched = True
                if when:
                    applied.append(w)
            post = apply_fast(applied) if touched else pre
            return Outcome(pre, post, enabled, errno, ret)
        return self._finish_reference(ret)

    def _finish_reference(self, ret: dict[str, Any]) -> Outcome:
        """Every pending effect as a ``Write`` with its final guard, applied by
        the state's ``with_writes`` (all backends)."""
        ok = and_(self.enabled, eq(self.errno, D.OK))
        writes = []
        for field_, key, value, when, where, rows in self._writes:
            w = Write(field_, key=key, value=value, when=when, where=where, rows=rows)
            if isinstance(w.when, _Unguarded):
                w.when = and_(self.enabled, w.when.cond)
            else:
                w.when = and_(ok, w.when)
            writes.append(w)
        if all(w.when is False for w in writes):
            post = self.pre
        else:
            post = self.pre.with_writes(writes)
        return Outcome(self.pre, post, self.enabled, self.errno, ret, _failure_writes(self._writes))


def _failure_writes(writes: list) -> frozenset[str]:
    """The fields of the pending effects that do not wait for every guard (``set_now``)."""
    return frozenset(w[0] for w in writes if type(w[3]) is _Unguarded)


class _Unguarded:
    """Marks a write that is not subject to later guards."""

    def __init__(self, cond: Any):
        self.cond = cond


def _row(a: Any, b: Any, first: Any, fn: Callable[[Any], tuple[Any, Any]]) -> tuple[Any, Any]:
    cond, value = fn(b)
    return and_(eq(a, first), cond), value


__all__ = ["Step", "Outcome", "not_"]
