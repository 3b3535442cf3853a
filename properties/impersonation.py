"""Impersonation properties (§9.1 levels, §9.2 gates, §9.3 lifecycle, Appendix A §13.2)."""

from __future__ import annotations

from model import domain as D
from model.values import and_, eq, iff, implies, ne, not_, or_, ule
from properties.base import prop
from properties.catalog_support import (
    IMPERSONATION_RULES,
    acting,
    fd_token,
    holds_priv,
    ok,
    real_of,
    thread_alive_both,
)


def client_of(pre, step):
    """The client token and the level it offers, for the two impersonation rules (§9.3, §13.2)."""
    if step.rule == "kacs_impersonate_peer":
        k = step.args["socket"]
        return pre.sock_peer_token[k], pre.sock_peer_level[k]
    t = fd_token(pre, step)
    return t, pre.token_level[t]


def _after_impersonation(pre, post, step, fn):
    """``fn(client, offered, level, token)`` after a successful impersonation step."""
    if step.rule not in IMPERSONATION_RULES:
        return True
    th = step.actor
    client, offered = client_of(pre, step)
    return implies(ok(step), fn(client, offered, post.thread_imp_level[th], post.thread_imp_token[th]))


# ------------------------------------------------------------------ named property 3
@prop("no-rule-changes-another-threads-impersonation",
      "No step changes the impersonation state (impersonating flag, and while impersonating the "
      "impersonation token and level) of a thread other than its actor that is alive before and after it; "
      "kernel steps change no thread's impersonation state.",
      kind="transition", sections=("§9.3", "§4.3", "§4.1"), clauses=("IMP-37", "LIFE-09", "LIFE-22", "LIFE-04"),
      mutants=("process-exit-leaves-threads-running",),
      note="No exception is needed: exec and process_exit end the other threads they touch (they are "
           "not alive after the step), install and external replacement change only real_cred and "
           "leave every impersonation in place (LIFE-09, LIFE-22), and install_converge is run by the "
           "converging thread itself.")
def no_foreign_impersonation_change(pre, post, step):
    """§9.3 Thread-to-thread impersonation: there is none (IMP-37); each thread keeps its own
    impersonation state in its own cred (§4.1, LIFE-04)."""
    def same(x):
        return and_(eq(post.thread_impersonating[x], pre.thread_impersonating[x]),
                    implies(pre.thread_impersonating[x],
                            and_(eq(post.thread_imp_token[x], pre.thread_imp_token[x]),
                                 eq(post.thread_imp_level[x], pre.thread_imp_level[x]))))
    if step.actor is None:
        return pre.forall("Thread", lambda x: implies(thread_alive_both(pre, post, x), same(x)))
    return pre.forall("Thread", lambda x: implies(and_(thread_alive_both(pre, post, x), ne(x, step.actor)), same(x)))


# ------------------------------------------------------------------ gates
@prop("acting-level-never-exceeds-the-client-level",
      "After a successful kacs_impersonate_peer or KACS_IOC_IMPERSONATE the level in force is at most "
      "the level the client offered (the socket's captured level, or the token's own level).",
      kind="transition", sections=("§9.1", "§9.2", "§13.2"), clauses=("IMP-02", "IMP-09", "IOCTL-08", "IMP-35"),
      mutants=("impersonate-peer-ignores-the-socket-level",))
def level_within_client(pre, post, step):
    """§9.1: "A server never exceeds the impersonation level chosen by the client" (IMP-02)."""
    return _after_impersonation(pre, post, step, lambda client, offered, level, tok: ule(level, offered))


def identity_gate(pre, server, client):
    """§9.2 identity gate on the server's primary token (IMP-10)."""
    return or_(and_(eq(pre.token_user[server], pre.token_user[client]),
                    iff(pre.token_restricted[server], pre.token_restricted[client])),
               holds_priv(pre, server, D.SE_IMPERSONATE))


@prop("acting-at-impersonation-passed-both-gates-on-the-primary",
      "A successful impersonation step that leaves its actor acting at Impersonation or Delegation passed "
      "the identity gate and the integrity ceiling judged on the actor's real (primary) token.",
      kind="transition", sections=("§9.2", "§9.3", "§13.2"),
      clauses=("IMP-09", "IMP-10", "IMP-14", "IMP-16", "IMP-19", "IOCTL-07"),
      expect={"kacs": "proved", "nt": "refuted"},
      mutants=("impersonate-peer-gates-on-effective-token",))
def acting_passed_gates(pre, post, step):
    """§9.2: both gates MUST pass for the requested level (IMP-09), judged on the primary token (IMP-14)."""
    server = real_of(pre, step.actor) if step.actor is not None else None
    return _after_impersonation(pre, post, step, lambda client, offered, level, tok: implies(
        acting(level), and_(identity_gate(pre, server, client),
                            ule(pre.token_integrity[client], pre.token_integrity[server]))))


@prop("restricted-primaries-never-impersonate-their-unrestricted-user",
      "A thread whose primary token is restricted never starts impersonating, at any level but "
      "Anonymous, an unrestricted token of its own user.",
      kind="transition", sections=("§9.2", "§13.2"), clauses=("IMP-11", "IMP-13", "IOCTL-07"),
      expect={"kacs": "proved", "nt": "refuted"},
      mutants=("ioctl-impersonate-skips-the-restricted-hard-deny",))
def restricted_never_escapes(pre, post, step):
    """§9.2: restricted-server -> unrestricted-client same-user impersonation is hard-denied (IMP-13)."""
    if step.rule not in IMPERSONATION_RULES:
        return True
    server = real_of(pre, step.actor)
    client, offered = client_of(pre, step)
    escape = and_(pre.token_restricted[server], not_(pre.token_restricted[client]),
                  eq(pre.token_user[server], pre.token_user[client]))
    return implies(and_(ok(step), escape), eq(post.thread_imp_level[step.actor], D.ANONYMOUS))


@prop("se-impersonate-never-lifts-the-integrity-ceiling",
      "After a successful impersonation step at Impersonation or Delegation, the impersonation token's "
      "integrity is at most the integrity of the actor's real token, whatever its privileges.",
      kind="transition", sections=("§9.2", "§9.3"), clauses=("IMP-16", "IMP-18", "IMP-31", "IMP-28"),
      expect={"kacs": "proved", "nt": "refuted"},
      mutants=("se-impersonate-lifts-the-ceiling",))
def ceiling_not_lifted(pre, post, step):
    """§9.2: "SeImpersonatePrivilege bypasses the identity gate but MUST NOT bypass the integrity ceiling" (IMP-18)."""
    server = real_of(pre, step.actor) if step.actor is not None else None
    return _after_impersonation(pre, post, step, lambda client, offered, level, tok: implies(
        acting(level), ule(post.token_integrity[tok], pre.token_integrity[server])))


@prop("impersonation-stays-within-the-real-token-integrity",
      "Every live thread acting at Impersonation or Delegation impersonates a token whose integrity is at "
      "most its real token's integrity.",
      kind="state", sections=("§9.2", "§9.3", "§4.3"), clauses=("IMP-28", "IMP-16", "LIFE-09"),
      expect={"kacs": "refuted"}, mutants=("se-impersonate-lifts-the-ceiling",),
      note="FINDING (IMP-28 vs LIFE-09).  The ceiling is checked when impersonation starts, but the real "
           "token can change afterwards: KACS_IOC_INSTALL (and install_converge for siblings, and external "
           "replacement) replace real_cred while keeping the impersonation.  Counterexample: SYSTEM's init "
           "impersonates a Medium client at Impersonation, then installs a Low-integrity SYSTEM token it "
           "created: it now acts above its primary's integrity.  (exec cannot do it: it reverts the "
           "caller's impersonation and ends the other threads.)")
def imp_within_real_integrity(s):
    """§9.3 Interaction with MIC: no thread acts at Impersonation/Delegation with a client token above
    the server primary's integrity (IMP-28)."""
    return s.forall("Thread", lambda t: implies(
        and_(s.thread_alive[t], s.thread_impersonating[t], acting(s.thread_imp_level[t])),
        ule(s.token_integrity[s.thread_imp_token[t]], s.token_integrity[s.thread_real[t]])))


@prop("impersonating-threads-act-at-their-tokens-level",
      "Every live impersonating thread's level in force equals its impersonation token's own level.",
      kind="state", sections=("§9.1", "§9.3", "§10.10"), clauses=("IMP-06", "IMP-17", "IOCTL-08"),
      support=("the-anonymous-token-is-well-formed", "live-threads-have-live-effective-tokens"),
      mutants=("ioctl-impersonate-forgets-the-level",),
      note="AccessCheck's Identification gate reads the token object, so the level a thread acts at "
           "must be the token's (DECISIONS.md, Impersonation).")
def imp_level_matches_token(s):
    """§9.1: an Identification-level token is never used for AccessCheck (IMP-06): the gate sees the
    level in force only through the token."""
    return s.forall("Thread", lambda t: implies(and_(s.thread_alive[t], s.thread_impersonating[t]),
                                                eq(s.token_level[s.thread_imp_token[t]], s.thread_imp_level[t])))


@prop("impersonation-tokens-are-impersonation-type",
      "Every live impersonating thread's impersonation token is an Impersonation-type (not Primary) token.",
      kind="state", sections=("§4.1", "§9.3", "§13.2"), clauses=("TOK-09", "IOCTL-06", "IMP-21"),
      support=("the-anonymous-token-is-well-formed", "live-threads-have-live-effective-tokens"),
      mutants=("impersonate-peer-references-the-snapshot",))
def imp_tokens_not_primary(s):
    """§4.1: cred resolves to the effective token, the primary or an impersonation token (TOK-09);
    KACS_IOC_IMPERSONATE needs an impersonation-type token (IOCTL-06)."""
    return s.forall("Thread", lambda t: implies(and_(s.thread_alive[t], s.thread_impersonating[t]),
                                                not_(s.token_primary[s.thread_imp_token[t]])))
