"""NT impersonation: SeTokenCanImpersonate in the NT order (nt-reference.md §5.4).

The KACS rules ``kacs_impersonate_peer`` and ``ioctl_impersonate`` are reused
unchanged with ``impersonation_gates`` rebound to ``nt_impersonation_gates``.
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules import RULES
from model.rules.common import holds
from model.rules_nt import rebound_rule
from model.state import State
from model.values import and_, eq, ite, not_, or_, uge, ule


def nt_impersonation_gates(s: State, server_tok: Any, client_tok: Any, requested: Any) -> tuple[Any, Any]:
    """SeTokenCanImpersonate (NT §5.4), judged on the server's primary token.

    Returns ``(eperm, level)`` like ``model.rules.impersonation.impersonation_gates``;
    NT never fails the call (``eperm`` is always false, §5.5: failure is silent,
    the thread gets an Identification-level token).  In order:

    1. level <= Identification, or the client's logon session is the anonymous
       one: allowed;
    2. SeImpersonatePrivilege enabled on the primary: allowed (steps 3-8 skipped,
       so the privilege lifts the integrity ceiling);
    3. primary integrity below the client's: fail;
    4. origin check: the client's session equals the primary's session: allowed.
       APPROXIMATION: the model has no OriginatingLogonSession field; the
       client's own ``token_session`` (AuthenticationId) stands for it
       (docs/review.md);
    5. the user SIDs differ: fail;
    6. (Elevated, Windows 10+) not modelled;
    7. a restricted (write-restricted) primary needs a restricted
       (write-restricted) client token; an unrestricted primary may take a
       restricted one;
    8. (session 0) not modelled.
    """
    acting = uge(requested, D.IMPERSONATION)
    anon_session = eq(s.token_session[client_tok], s.anon_session)
    privileged = holds(s, server_tok, D.SE_IMPERSONATE)
    below = not_(ule(s.token_integrity[client_tok], s.token_integrity[server_tok]))
    origin = eq(s.token_session[client_tok], s.token_session[server_tok])
    same_user = eq(s.token_user[server_tok], s.token_user[client_tok])
    sandbox_ok = and_(or_(not_(s.token_restricted[server_tok]), s.token_restricted[client_tok]),
                      or_(not_(s.token_write_restricted[server_tok]), s.token_write_restricted[client_tok]))
    allowed = or_(not_(acting), anon_session, privileged,
                  and_(not_(below), or_(origin, and_(same_user, sandbox_ok))))
    level = ite(allowed, requested, D.IDENTIFICATION)
    return False, level


NOTE = ("SeTokenCanImpersonate in the NT order (nt-reference.md §5.4): privilege before integrity, "
        "origin-session check, no -EPERM (a failed check silently yields Identification).")
rebound_rule(RULES["kacs_impersonate_peer"], NOTE, ("NT §5.4", "NT §5.5"), impersonation_gates=nt_impersonation_gates)
rebound_rule(RULES["ioctl_impersonate"], NOTE, ("NT §5.4", "NT §5.5"), impersonation_gates=nt_impersonation_gates)

__all__ = ["nt_impersonation_gates"]
