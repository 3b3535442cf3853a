"""Proposal: drop the restricted-server -> unrestricted-client -EPERM (§9.2 IMP-13).

A restricted server impersonating an unrestricted token of its own user would
no longer fail: the identity gate (different restriction status) caps it to
Identification instead, which is what NT does silently (nt-reference.md §10,
"Differences not declared").
"""

from __future__ import annotations

from typing import Any

from model.rules import RULES
from model.rules.impersonation import impersonation_gates
from tokenproof.review import replace_rule

TITLE = "No -EPERM for restricted -> unrestricted same-user impersonation"
DESCRIPTION = ("The hard deny of §9.2 (IMP-13, IOCTL-07) is removed; the gates still cap the level to "
               "Identification, so a restricted server can query (but not act as) its unrestricted user.")
EXPECT_BROKEN = ("restricted-primaries-never-impersonate-their-unrestricted-user",)
BMC_RULES = ("kacs_create_token", "ioctl_install", "ioctl_impersonate")


def gates_without_hard_deny(s: Any, server_tok: Any, client_tok: Any, requested: Any) -> tuple[Any, Any]:
    _, level = impersonation_gates(s, server_tok, client_tok, requested)
    return False, level


RULES_OVERRIDE = {
    name: replace_rule(RULES[name], impersonation_gates=gates_without_hard_deny, note="no IMP-13 hard deny")
    for name in ("kacs_impersonate_peer", "ioctl_impersonate")
}
