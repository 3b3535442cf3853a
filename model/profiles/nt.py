"""The Windows NT reference profile (issue 8; ../shared/spec/nt-reference.md):
the KACS rule set with the rules where NT differs replaced by their NT
versions (``model.rules_nt``): NtOpenThreadToken (STATUS_NO_TOKEN,
STATUS_CANT_OPEN_ANONYMOUS, OpenAsSelf), SeTokenCanImpersonate in the NT
order, NtAdjustPrivilegesToken with STATUS_NOT_ALL_ASSIGNED, the primary
assignment exceptions and NtDuplicateToken keeping the identity at
SecurityAnonymous.  Approximations: docs/review.md."""

from __future__ import annotations

from model.rules import RULES
from model.rules.registry import Rule


def nt_only() -> dict[str, Rule]:
    """Just the NT rules (the ones that differ from KACS)."""
    from model.rules_nt import load

    return dict(load())


def rules() -> dict[str, Rule]:
    out = dict(RULES)
    out.update(nt_only())
    return out
