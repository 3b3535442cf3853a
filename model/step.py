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
from model.values import and_, eq, ite, not_


@dataclass
class Outcome:
    """What one rule application produced."""

    pre: State
    post: State
    enabled: Any  # model Boolean: preconditions held (otherwise there is no step)
    errno: Any  # model BV8: 0 on success, else the spec's errno
    ret: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> Any:
        return and_(self.enabled, eq(self.errno, 0))


class Step:
    """Builder for one application of a rule by ``actor`` on ``pre``."""

    def __init__(self, pre: State, actor: Any, args: dict[str, Any]):
        self.pre = pre
        self.actor = actor
        self.args = args
        self.enabled: Any = True
        self.errno: Any = D.OK
        self._writes: list[Write] = []

    # ------------------------------------------------------------ guards
    def assume(self, cond: Any) -> None:
        """A model precondition: without it the step does not exist."""
        self.enabled = and_(self.enabled, cond)

    def require(self, cond: Any, errno: Any) -> None:
        """A guard: if ``cond`` is false (and no earlier guard failed), fail with ``errno``."""
        self.errno = ite(eq(self.errno, D.OK), ite(cond, D.OK, errno), self.errno)

    @property
    def ok(self) -> Any:
        """All guards so far passed."""
        return eq(self.errno, D.OK)

    # ------------------------------------------------------------ effects
    def set(self, view: FieldView | str, key: Any, value: Any, when: Any = True) -> None:
        """``field[key] := value`` (if ``when``)."""
        name = view if isinstance(view, str) else view.name
        spec = FIELDS[name]
        k = () if not spec.keys else (key if isinstance(key, tuple) else (key,))
        self._writes.append(Write(name, key=k, value=value, when=when))

    def set_now(self, view: FieldView | str, key: Any, value: Any) -> None:
        """An effect that happens if every guard *so far* passed, even if a later
        guard fails (e.g. a privilege's used bit once its gate accepted, §7.1)."""
        self.set(view, key, value, when=_Unguarded(self.ok))

    def set_scalar(self, name: str, value: Any, when: Any = True) -> None:
        self.set(name, None, value, when)

    def set_where(self, view: FieldView | str, fn: Callable[..., tuple[Any, Any]]) -> None:
        """For every key ``x`` with ``cond``: ``field[x] := value`` where ``fn(x) = (cond, value)``."""
        name = view if isinstance(view, str) else view.name
        self._writes.append(Write(name, where=fn))

    def set_row(self, view: FieldView | str, first: Any, fn: Callable[[Any], tuple[Any, Any]]) -> None:
        """Bulk update of a two-key field restricted to ``first`` (e.g. one process's fd table)."""
        name = view if isinstance(view, str) else view.name
        spec = FIELDS[name]
        rows = None
        if self.pre.backend == "concrete":
            rows = [(first, k) for k in self.pre.universe[spec.keys[1]]]  # type: ignore[attr-defined]
        self._writes.append(Write(name, where=lambda a, b: _row(a, b, first, fn), rows=rows))

    def set_many(self, key: Any, values: dict[str, Any], when: Any = True) -> None:
        """Several fields of one object at once."""
        for name, value in values.items():
            self.set(name, key, value, when)

    # ------------------------------------------------------------ result
    def finish(self, **ret: Any) -> Outcome:
        ok = and_(self.enabled, eq(self.errno, D.OK))
        writes = []
        for w in self._writes:
            if isinstance(w.when, _Unguarded):
                w.when = and_(self.enabled, w.when.cond)
            else:
                w.when = and_(ok, w.when)
            writes.append(w)
        if all(w.when is False for w in writes):
            post = self.pre
        else:
            post = self.pre.with_writes(writes)
        return Outcome(self.pre, post, self.enabled, self.errno, ret)


class _Unguarded:
    """Marks a write that is not subject to later guards."""

    def __init__(self, cond: Any):
        self.cond = cond


def _row(a: Any, b: Any, first: Any, fn: Callable[[Any], tuple[Any, Any]]) -> tuple[Any, Any]:
    cond, value = fn(b)
    return and_(eq(a, first), cond), value


__all__ = ["Step", "Outcome", "not_"]
