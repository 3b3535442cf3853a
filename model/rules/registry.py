"""The rule registry: every syscall, ioctl and kernel step, declared as data.

A rule is a plain function ``fn(st: Step, **args) -> Outcome``.  Its
declaration names its arguments and their types (so the executor can parse
them from trace files and the prover can make them symbolic), the spec
sections it implements, and whether it runs as a thread (``actor`` is the
calling thread) or as the kernel (``actor`` is ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from model.state import Type
from model.step import Outcome, Step


@dataclass(frozen=True)
class Arg:
    name: str
    type: Type
    fresh: bool = False  # an unused object the kernel allocates (the executor picks it)
    doc: str = ""
    default: Any = None
    fmt: str = ""  # how traces spell it: rights, privileges, level, integrity, slots, errno ("" = by type)
    plain: Any = None  # its value in a plain request (tokenproof.shortcuts.plain_requests); None: no such value


@dataclass
class Rule:
    name: str
    fn: Callable[..., Outcome]
    args: tuple[Arg, ...]
    sections: tuple[str, ...]
    family: str
    kernel: bool = False
    clauses: tuple[str, ...] = ()
    doc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def apply(self, pre: Any, actor: Any, args: dict[str, Any]) -> Outcome:
        st = Step(pre, actor, args)
        return self.fn(st, **args)

    @property
    def source(self) -> tuple[str, int]:
        code = self.fn.__code__
        return code.co_filename, code.co_firstlineno


RULES: dict[str, Rule] = {}


def rule(name: str, *, family: str, sections: tuple[str, ...], args: tuple[Arg, ...] = (),
         kernel: bool = False, clauses: tuple[str, ...] = ()) -> Callable:
    """Register ``fn`` as the rule ``name`` in the default (KACS) rule set."""

    def deco(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
        if name in RULES:
            raise ValueError(f"rule {name} declared twice")
        RULES[name] = Rule(name, fn, tuple(args), tuple(sections), family, kernel, tuple(clauses),
                           (fn.__doc__ or "").strip())
        return fn

    return deco
