"""Proposal: SeImpersonatePrivilege also lifts the integrity ceiling (as NT does).

KACS §9.2 (IMP-18): "SeImpersonatePrivilege bypasses the identity gate but
MUST NOT bypass the integrity ceiling".  NT's SeTokenCanImpersonate checks the
privilege *before* the integrity step (nt-reference.md §5.4 step 2), so a
Medium service holding the privilege can act as a High or System client.
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules import RULES
from model.rules.common import holds
from model.rules.impersonation import impersonation_gates
from model.values import ite, not_, or_, uge
from tokenproof.review import replace_rule

TITLE = "SeImpersonatePrivilege lifts the integrity ceiling"
DESCRIPTION = ("An impersonation whose server holds SeImpersonatePrivilege (enabled, on its primary) is never "
               "capped to Identification by the integrity ceiling: the privilege passes both gates, as in NT.")
EXPECT_BROKEN = ("se-impersonate-never-lifts-the-integrity-ceiling",
                 "acting-at-impersonation-passed-both-gates-on-the-primary")
BMC_RULES = ("socket_create", "socket_connect", "kacs_impersonate_peer")


def gates_privilege_lifts_ceiling(s: Any, server_tok: Any, client_tok: Any, requested: Any) -> tuple[Any, Any]:
    """The KACS gates, except that the privilege restores the requested level."""
    eperm, level = impersonation_gates(s, server_tok, client_tok, requested)
    lifted = or_(not_(uge(requested, D.IMPERSONATION)), holds(s, server_tok, D.SE_IMPERSONATE))
    return eperm, ite(lifted, requested, level)


RULES_OVERRIDE = {
    name: replace_rule(RULES[name], impersonation_gates=gates_privilege_lifts_ceiling,
                       note="SeImpersonatePrivilege lifts the integrity ceiling")
    for name in ("kacs_impersonate_peer", "ioctl_impersonate")
}
