"""Privilege properties (§4.2 Privileges, §4.5 AdjustPrivileges, §7.1)."""

from __future__ import annotations

from model import domain as D
from model.values import and_, eq, implies, inc, subset
from properties.base import prop
from properties.catalog_support import (
    ADJUSTMENT_RULES,
    TOKEN_SOURCE_LEMMAS,
    fd_token,
    holds_priv,
    ok,
    real_of,
    token_alive_both,
    acting,
)


def _per_token(pre, post, fn):
    """``fn(t)`` for every token alive before and after the step."""
    return pre.forall("Token", lambda t: implies(token_alive_both(pre, post, t), fn(t)))


@prop("privileges-present-never-grow",
      "No step adds a privilege to the present set of a token alive before and after it "
      "(so a removed privilege never returns).",
      kind="transition", sections=("§4.2", "§4.5", "§7.1"), clauses=("TOK-30", "PRIV-01", "ADJ-07", "ADJ-08"),
      mutants=("fork-reuses-a-live-token", "adjust-privs-remove-adds"))
def privileges_present_never_grow(pre, post, step):
    """§4.2: "no privilege is added after creation" (TOK-30); §7.1 (PRIV-01)."""
    return _per_token(pre, post, lambda t: subset(post.token_privs_present[t], pre.token_privs_present[t]))


@prop("enabled-privileges-are-present",
      "Every enabled privilege of a live token is present.",
      kind="state", sections=("§4.2", "§4.5"), clauses=("TOK-31", "ADJ-04", "ADJ-08"), support=TOKEN_SOURCE_LEMMAS,
      mutants=("adjust-privs-enables-absent-privileges", "adjust-privs-checks-no-guards"))
def enabled_privileges_are_present(s):
    """§4.2: only present privileges may be enabled (TOK-31, ADJ-04)."""
    return s.forall("Token", lambda t: implies(s.token_alive[t],
                                               subset(s.token_privs_enabled[t], s.token_privs_present[t])))


@prop("default-enabled-privileges-are-present",
      "Every enabled-by-default privilege of a live token is present.",
      kind="state", sections=("§4.2", "§4.5"), clauses=("TOK-34", "ADJ-06", "ADJ-07", "ADJ-08"),
      support=TOKEN_SOURCE_LEMMAS,
      mutants=("adjust-privs-remove-keeps-default",),
      note="Needed for ADJ-07: a reset restores enabled-by-default, so a removed privilege left in "
           "enabled-by-default would come back enabled.")
def default_privileges_are_present(s):
    """§4.2: removing a privilege clears present, enabled and enabled-by-default (TOK-34)."""
    return s.forall("Token", lambda t: implies(s.token_alive[t],
                                               subset(s.token_privs_default[t], s.token_privs_present[t])))


@prop("removed-privileges-never-come-back-enabled",
      "After any step, the enabled privileges of a token alive before and after are among the "
      "privileges it had present before the step.",
      kind="transition", sections=("§4.5",), clauses=("ADJ-04", "ADJ-07", "ADJ-08"),
      support=("enabled-privileges-are-present", "default-enabled-privileges-are-present"),
      mutants=("adjust-privs-enables-absent-privileges",))
def removed_never_enabled(pre, post, step):
    """§4.5: reset "does not bring back privileges already removed" (ADJ-07)."""
    return _per_token(pre, post, lambda t: subset(post.token_privs_enabled[t], pre.token_privs_present[t]))


@prop("used-privileges-are-monotonic",
      "No step clears a used bit of a token alive before and after it.",
      kind="transition", sections=("§4.2", "§7.1"), clauses=("TOK-33", "PRIV-04", "PRIV-12"),
      mutants=("adjust-privs-remove-clears-used", "fork-reuses-a-live-token"))
def used_is_monotonic(pre, post, step):
    """§4.2: "The Used state is monotonic and never cleared once set" (TOK-33)."""
    return _per_token(pre, post, lambda t: subset(pre.token_privs_used[t], post.token_privs_used[t]))


@prop("marking-privileges-used-never-bumps-modified-id",
      "kacs_privilege_check (which marks privileges used) changes no token's modified_id.",
      kind="transition", sections=("§4.2", "§7.1", "Appendix A §1"), clauses=("TOK-46",),
      mutants=("privilege-check-bumps-modified-id",))
def marking_used_no_bump(pre, post, step):
    """§4.2 Mutation tracking: marking a privilege used does not bump modified_id (TOK-46)."""
    if step.rule != "kacs_privilege_check":
        return True
    return _per_token(pre, post, lambda t: eq(post.token_modified_id[t], pre.token_modified_id[t]))


@prop("only-adjustments-change-modified-id",
      "The modified_id of a token alive before and after a step changes only in one of the four "
      "adjustment ioctls.",
      kind="transition", sections=("§4.2", "§4.5"), clauses=("TOK-45", "TOK-46", "ADJ-02"),
      mutants=("privilege-check-bumps-modified-id",))
def only_adjustments_change_modified_id(pre, post, step):
    """§4.2: modified_id "increments on every token adjustment" (TOK-45) and nothing else."""
    if step.rule in ADJUSTMENT_RULES:
        return True
    return _per_token(pre, post, lambda t: eq(post.token_modified_id[t], pre.token_modified_id[t]))


@prop("every-successful-adjustment-bumps-modified-id-by-one",
      "Every successful KACS_IOC_ADJUST_PRIVS / _GROUPS / _DEFAULT / _INTERACTIVITY_SCOPE increments "
      "the adjusted token's modified_id by exactly one.",
      expect={"kacs": "proved", "nt": "refuted"}, kind="transition", sections=("§4.2", "§4.5", "Appendix A §2"),
      clauses=("ADJ-02", "TOK-45", "IOCTL-21", "IOCTL-24", "IOCTL-27", "IOCTL-28"),
      mutants=("adjust-groups-forgets-modified-id",))
def adjustment_bumps_by_one(pre, post, step):
    """§4.5: "every one bumps modified_id" (ADJ-02)."""
    if step.rule not in ADJUSTMENT_RULES:
        return True
    t = fd_token(pre, step)
    return implies(ok(step), eq(post.token_modified_id[t], inc(pre.token_modified_id[t], D.ID_W)))


@prop("interactivity-scope-changes-need-tcb-on-the-real-token",
      "A successful KACS_IOC_ADJUST_INTERACTIVITY_SCOPE was made by a thread whose real token holds "
      "SeTcbPrivilege enabled.",
      kind="transition", sections=("§4.5", "Appendix A §2"), clauses=("ADJ-19", "IOCTL-27", "TOK-47"),
      mutants=("adjust-scope-judges-tcb-on-effective-token",))
def scope_needs_tcb(pre, post, step):
    """Appendix A §2: the scope ioctl needs SeTcbPrivilege on the real token (IOCTL-27)."""
    if step.rule != "ioctl_adjust_interactivity_scope":
        return True
    return implies(ok(step), holds_priv(pre, real_of(pre, step.actor), D.SE_TCB))


GATED_ON_EFFECTIVE = ("kacs_create_token", "kacs_create_logon_session", "kacs_invalidate_logon_session",
                      "kacs_destroy_empty_logon_session", "ioctl_link_tokens")


@prop("identification-level-impersonation-lends-no-privileges",
      "A thread impersonating at Anonymous or Identification level never passes a standalone "
      "privilege gate (CreateToken, LogonSession management, LINK_TOKENS) on the strength of its "
      "impersonation token.",
      kind="transition", sections=("§9.1", "§7.1", "§4.4", "§4.7"), clauses=("IMP-05", "PRIV-05", "CREATE-01"),
      expect={"kacs": "refuted"}, mutants=("impersonate-peer-gates-on-effective-token",),
      note="FINDING.  The rules judge these standalone gates on the effective token (§7.1 PRIV-05 "
           "'the calling thread's token') without looking at its level, while §9.1 says an "
           "Identification-level server 'MUST NOT act as' the client (IMP-05).  Counterexample: "
           "SYSTEM's init connects to a socket served by alice's shell; alice's kacs_impersonate_peer "
           "is capped to Identification (no SeImpersonatePrivilege, System > Medium), yet her "
           "kacs_create_logon_session / kacs_create_token now succeed with SYSTEM's privileges.")
def identification_lends_no_privileges(pre, post, step):
    """§9.1 Identification: the server can inspect but MUST NOT act as the client (IMP-05)."""
    if step.rule not in GATED_ON_EFFECTIVE:
        return True
    th = step.actor
    return implies(and_(ok(step), pre.thread_impersonating[th]), acting(pre.thread_imp_level[th]))


__all__ = ["GATED_ON_EFFECTIVE"]
