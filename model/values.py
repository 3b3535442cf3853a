"""The value layer: one vocabulary of operations with two meanings.

Every rule in ``model.rules`` is written with these helpers instead of Python
``if``/``and``/``or``/``<`` on model values.  Given concrete Python values
(``bool``, ``int``, ``str``) they compute concretely; given z3 terms they build
z3 terms.  The same rule text is therefore both the executor and the SMT
encoding (DEVELOPERS.md, "Rules are written once").

A Python ``if`` on a z3 term raises ``Z3Exception`` ("Symbolic expressions
cannot be cast to concrete Boolean values"), so the symbolic backend catches
any rule that branches on a model value by accident.
"""

from __future__ import annotations

from typing import Any, Iterable

import z3

Value = Any


class BV(int):
    """A bit-vector constant that remembers its width.

    Behaves as a plain non-negative ``int`` in concrete code; the symbolic
    layer uses ``width`` to build a ``BitVecVal`` when both branches of an
    ``ite`` are constants.
    """

    width: int

    def __new__(cls, value: int, width: int) -> "BV":
        obj = super().__new__(cls, value & ((1 << width) - 1))
        obj.width = width
        return obj

    def __repr__(self) -> str:
        return f"BV({int(self):#x}, {self.width})"

    def __str__(self) -> str:
        return int.__repr__(self)

    def _wrap(self, other: Any, op) -> Any:
        if isinstance(other, z3.ExprRef):
            return NotImplemented
        return BV(op(int(self), int(other)), self.width)

    def __or__(self, other):
        return self._wrap(other, int.__or__)

    __ror__ = __or__

    def __and__(self, other):
        return self._wrap(other, int.__and__)

    __rand__ = __and__

    def __xor__(self, other):
        return self._wrap(other, int.__xor__)

    __rxor__ = __xor__

    def __invert__(self):
        return BV(~int(self), self.width)

    def __hash__(self) -> int:
        return int.__hash__(self)


def is_sym(x: Any) -> bool:
    return isinstance(x, z3.ExprRef)


def _to_z3_like(x: Any, like: z3.ExprRef) -> z3.ExprRef:
    if is_sym(x):
        return x
    if z3.is_bool(like):
        return z3.BoolVal(bool(x))
    if z3.is_bv(like):
        return z3.BitVecVal(int(x), like.size())
    raise TypeError(f"cannot coerce {x!r} to the sort of {like}")


def _const_to_z3(x: Any) -> z3.ExprRef:
    if isinstance(x, bool):
        return z3.BoolVal(x)
    if isinstance(x, BV):
        return z3.BitVecVal(int(x), x.width)
    raise TypeError(
        f"ite with a symbolic condition needs typed constants; got {x!r}. "
        "Use model.values.BV(value, width) for bit-vector constants."
    )


def lift_pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring two values to a common symbolic sort (if either is symbolic)."""
    if is_sym(a) and not is_sym(b):
        return a, _to_z3_like(b, a)
    if is_sym(b) and not is_sym(a):
        return _to_z3_like(a, b), b
    if not is_sym(a) and not is_sym(b):
        return _const_to_z3(a), _const_to_z3(b)
    return a, b


def ite(cond: Any, then: Any, other: Any) -> Any:
    """``then`` if ``cond`` else ``other``."""
    if cond is True or cond is False:
        return then if cond else other
    if not is_sym(cond):
        return then if bool(cond) else other
    a, b = lift_pair(then, other)
    return z3.If(cond, a, b)


def not_(x: Any) -> Any:
    if is_sym(x):
        return z3.Not(x)
    return not x


def and_(*xs: Any) -> Any:
    sym = []
    for x in xs:
        if is_sym(x):
            sym.append(x)
        elif not x:
            return False
    if not sym:
        return True
    return sym[0] if len(sym) == 1 else z3.And(*sym)


def or_(*xs: Any) -> Any:
    sym = []
    for x in xs:
        if is_sym(x):
            sym.append(x)
        elif x:
            return True
    if not sym:
        return False
    return sym[0] if len(sym) == 1 else z3.Or(*sym)


def all_(xs: Iterable[Any]) -> Any:
    return and_(*list(xs))


def any_(xs: Iterable[Any]) -> Any:
    return or_(*list(xs))


def implies(a: Any, b: Any) -> Any:
    return or_(not_(a), b)


def iff(a: Any, b: Any) -> Any:
    if is_sym(a) or is_sym(b):
        a, b = lift_pair(a, b)
        return a == b
    return bool(a) == bool(b)


def eq(a: Any, b: Any) -> Any:
    """Equality that always yields a model Boolean."""
    if is_sym(a) or is_sym(b):
        return a == b
    return a == b


def ne(a: Any, b: Any) -> Any:
    return not_(eq(a, b))


def _cmp(a: Any, b: Any, concrete, symbolic) -> Any:
    if is_sym(a) or is_sym(b):
        a, b = lift_pair(a, b)
        return symbolic(a, b)
    return concrete(int(a), int(b))


def ult(a: Any, b: Any) -> Any:
    """Unsigned ``a < b``."""
    return _cmp(a, b, lambda x, y: x < y, z3.ULT)


def ule(a: Any, b: Any) -> Any:
    """Unsigned ``a <= b``."""
    return _cmp(a, b, lambda x, y: x <= y, z3.ULE)


def ugt(a: Any, b: Any) -> Any:
    return ult(b, a)


def uge(a: Any, b: Any) -> Any:
    return ule(b, a)


def umin(a: Any, b: Any) -> Any:
    return ite(ule(a, b), a, b)


def has_all(mask: Any, bits: Any) -> Any:
    """Every bit of ``bits`` is set in ``mask``."""
    return eq(mask & bits, bits)


def has_any(mask: Any, bits: Any) -> Any:
    """Some bit of ``bits`` is set in ``mask``."""
    return ne(mask & bits, 0)


def clear(mask: Any, bits: Any) -> Any:
    """``mask`` without ``bits`` (safe for Python ints: no negative numbers)."""
    if is_sym(mask) or is_sym(bits):
        return mask & ~bits if is_sym(bits) else mask & ~int(bits)
    if isinstance(mask, BV):  # keep the width, so the result still lifts in a symbolic ite
        return BV(int(mask) & ~int(bits), mask.width)
    return int(mask) & ~int(bits)


def subset(a: Any, b: Any) -> Any:
    """Bits of ``a`` are a subset of the bits of ``b``."""
    return eq(clear(a, b), 0)


def inc(x: Any, width: int) -> Any:
    """``x + 1`` wrapping at ``width`` bits."""
    if is_sym(x):
        return x + 1
    return (int(x) + 1) & ((1 << width) - 1)


def bit_of(mask: Any, index: int) -> Any:
    """Bit ``index`` (a Python int: a structural slot number) of ``mask``."""
    return has_any(mask, 1 << index)


def popcount_le_one(mask: Any) -> Any:
    """At most one bit set."""
    return eq(mask & (mask - 1), 0)


def concrete(x: Any) -> Any:
    """Return the Python value of ``x`` (fails loudly on an open term)."""
    if is_sym(x):
        raise TypeError(f"expected a concrete value, got the term {x}")
    return x
