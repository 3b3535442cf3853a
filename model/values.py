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

import operator as _operator
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

    # The operators build their result directly (``_bv``): the value ``BV(op(int(self),
    # int(other)), self.width)`` would have, without the calls in between.  ``int.__or__``
    # and friends take ``bool``s and ``BV``s as the ints they are, as ``int(other)`` does;
    # anything else (a z3 term, whose own reflected operator builds the term) goes the
    # original way.
    def _wrap(self, other: Any, op) -> Any:
        if isinstance(other, z3.ExprRef):
            return NotImplemented
        return BV(op(int(self), int(other)), self.width)

    def __or__(self, other):
        if type(other) in _PLAIN_INTS:
            w = self.width
            return _bv(_int_or(self, other) & ((1 << w) - 1), w)
        return self._wrap(other, int.__or__)

    __ror__ = __or__

    def __and__(self, other):
        if type(other) in _PLAIN_INTS:
            w = self.width
            return _bv(_int_and_op(self, other) & ((1 << w) - 1), w)
        return self._wrap(other, int.__and__)

    __rand__ = __and__

    def __xor__(self, other):
        if type(other) in _PLAIN_INTS:
            w = self.width
            return _bv(_int_xor(self, other) & ((1 << w) - 1), w)
        return self._wrap(other, int.__xor__)

    __rxor__ = __xor__

    def __invert__(self):
        w = self.width
        return _bv(_int_invert(self) & ((1 << w) - 1), w)

    def __hash__(self) -> int:
        return int.__hash__(self)


_int_new = int.__new__
_int_or, _int_and_op, _int_xor, _int_invert = int.__or__, int.__and__, int.__xor__, int.__invert__
_PLAIN_INTS = frozenset((int, bool, BV))


def _bv(value: int, width: int) -> BV:
    """``BV(value, width)`` for a ``value`` already in ``[0, 2**width)``."""
    obj = _int_new(BV, value)
    obj.width = width
    return obj


_ExprRef = z3.ExprRef
_FunctionType = type(lambda: None)

# Fast paths: the concrete backend calls these helpers millions of times, so
# every helper first handles plain Python values (``x is True``/``x is False``,
# then one ``isinstance`` against ``z3.ExprRef``) and only then builds terms.
# The symbolic branches are the original code, unchanged, so the terms a rule
# produces on the symbolic backend are exactly the same as before.


def is_sym(x: Any) -> bool:
    return isinstance(x, _ExprRef)


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
    if cond is True:
        return then
    if cond is False:
        return other
    if not isinstance(cond, _ExprRef):
        return then if cond else other
    a, b = lift_pair(then, other)
    return z3.If(cond, a, b)


def not_(x: Any) -> Any:
    if x is True:
        return False
    if x is False:
        return True
    if isinstance(x, _ExprRef):
        return z3.Not(x)
    return not x


def and_(*xs: Any) -> Any:
    sym = None
    for x in xs:
        if x is True:
            continue
        if x is False:
            return False
        if isinstance(x, _ExprRef):
            if sym is None:
                sym = [x]
            else:
                sym.append(x)
        elif not x:
            return False
    if sym is None:
        return True
    return sym[0] if len(sym) == 1 else z3.And(*sym)


def or_(*xs: Any) -> Any:
    sym = None
    for x in xs:
        if x is False:
            continue
        if x is True:
            return True
        if isinstance(x, _ExprRef):
            if sym is None:
                sym = [x]
            else:
                sym.append(x)
        elif x:
            return True
    if sym is None:
        return False
    return sym[0] if len(sym) == 1 else z3.Or(*sym)


def and_lazy(*xs: Any) -> Any:
    """``and_`` whose arguments may be *thunks* (``lambda: value``).

    A thunk is called only when its value can still matter, i.e. when no
    earlier argument is concretely false.  The result is always exactly that of
    ``and_`` applied to the same arguments with every thunk called (``and_``
    returns ``False`` at the first concretely false argument whatever follows),
    so on the symbolic backend, where the arguments are terms, every thunk is
    called and the term is the same as ``and_``'s.  Rules use it where an
    argument is expensive to evaluate concretely (a quantifier over a sort).
    """
    sym = None
    for x in xs:
        if type(x) is _FunctionType:
            x = x()
        if x is True:
            continue
        if x is False:
            return False
        if isinstance(x, _ExprRef):
            if sym is None:
                sym = [x]
            else:
                sym.append(x)
        elif not x:
            return False
    if sym is None:
        return True
    return sym[0] if len(sym) == 1 else z3.And(*sym)


def or_lazy(*xs: Any) -> Any:
    """``or_`` whose arguments may be thunks, called only while no earlier
    argument is concretely true (see ``and_lazy``: same result as ``or_``)."""
    sym = None
    for x in xs:
        if type(x) is _FunctionType:
            x = x()
        if x is False:
            continue
        if x is True:
            return True
        if isinstance(x, _ExprRef):
            if sym is None:
                sym = [x]
            else:
                sym.append(x)
        elif x:
            return True
    if sym is None:
        return False
    return sym[0] if len(sym) == 1 else z3.Or(*sym)


def all_(xs: Iterable[Any]) -> Any:
    return and_(*list(xs))


def any_(xs: Iterable[Any]) -> Any:
    return or_(*list(xs))


def implies(a: Any, b: Any) -> Any:
    return or_(not_(a), b)


def iff(a: Any, b: Any) -> Any:
    if isinstance(a, _ExprRef) or isinstance(b, _ExprRef):
        a, b = lift_pair(a, b)
        return a == b
    return bool(a) == bool(b)


#: Equality that always yields a model Boolean: ``eq(a, b)`` is ``a == b`` on both backends
#: (a Python ``bool`` for concrete values, a z3 term otherwise).  It is ``operator.eq``
#: itself, which is exactly ``a == b`` (the same special-method protocol, the same z3
#: term) and, being built in, about three times cheaper to call than a Python function.
eq = _operator.eq


def ne(a: Any, b: Any) -> Any:
    # ``not_(eq(a, b))``, with its concrete cases inlined
    r = a == b
    if r is True:
        return False
    if r is False:
        return True
    return not_(r)


def ult(a: Any, b: Any) -> Any:
    """Unsigned ``a < b``."""
    if isinstance(a, _ExprRef) or isinstance(b, _ExprRef):
        a, b = lift_pair(a, b)
        return z3.ULT(a, b)
    return int(a) < int(b)


def ule(a: Any, b: Any) -> Any:
    """Unsigned ``a <= b``."""
    if isinstance(a, _ExprRef) or isinstance(b, _ExprRef):
        a, b = lift_pair(a, b)
        return z3.ULE(a, b)
    return int(a) <= int(b)


def ugt(a: Any, b: Any) -> Any:
    return ult(b, a)


def uge(a: Any, b: Any) -> Any:
    return ule(b, a)


def umin(a: Any, b: Any) -> Any:
    return ite(ule(a, b), a, b)


# For two concrete ints (``BV`` included) ``mask & bits`` is numerically
# ``int.__and__(mask, bits)``: a ``BV`` operand is non-negative and below
# 2**width, so the result already fits the width ``BV`` would mask it to.  The
# comparison then gives the same ``bool`` without building a ``BV``.
_int_and = int.__and__


def has_all(mask: Any, bits: Any) -> Any:
    """Every bit of ``bits`` is set in ``mask``."""
    if isinstance(mask, int) and isinstance(bits, int):
        return _int_and(mask, bits) == bits
    return eq(mask & bits, bits)


def has_any(mask: Any, bits: Any) -> Any:
    """Some bit of ``bits`` is set in ``mask``."""
    if isinstance(mask, int) and isinstance(bits, int):
        return _int_and(mask, bits) != 0
    return ne(mask & bits, 0)


def clear(mask: Any, bits: Any) -> Any:
    """``mask`` without ``bits`` (safe for Python ints: no negative numbers)."""
    tm = type(mask)
    if tm is BV and type(bits) in _PLAIN_INTS:  # the concrete BV case below, without the calls
        return _bv(_int_and_op(mask, ~_int_new(int, bits)) & ((1 << mask.width) - 1), mask.width)
    if isinstance(mask, _ExprRef) or isinstance(bits, _ExprRef):
        return mask & ~bits if is_sym(bits) else mask & ~int(bits)
    if isinstance(mask, BV):  # keep the width, so the result still lifts in a symbolic ite
        return BV(int(mask) & ~int(bits), mask.width)
    return int(mask) & ~int(bits)


def subset(a: Any, b: Any) -> Any:
    """Bits of ``a`` are a subset of the bits of ``b``."""
    return eq(clear(a, b), 0)


def inc(x: Any, width: int) -> Any:
    """``x + 1`` wrapping at ``width`` bits."""
    if isinstance(x, _ExprRef):
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
