"""One module per syscall family; importing this package registers every rule."""

from model.rules import (  # noqa: F401
    adjustment,
    creation,
    handles,
    impersonation,
    lifecycle,
    primary,
    sessions,
)
from model.rules.registry import RULES, Arg, Rule, rule

__all__ = ["RULES", "Arg", "Rule", "rule"]
