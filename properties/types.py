"""Token types, levels and elevation (§4.2 Token type, Elevation; §4.4; §4.6)."""

from __future__ import annotations

from model import domain as D
from model.values import and_, eq, implies, not_, or_, ule
from properties.base import prop
from properties.catalog_support import TOKEN_SOURCE_LEMMAS, fd_token, ok, token_alive_both

_FIXED_FIELDS = ("token_id", "token_user", "token_user_deny_only", "token_integrity", "token_policy",
                 "token_primary", "token_level", "token_session", "token_restricted", "token_rsids",
                 "token_write_restricted", "token_confined", "token_conf_sid", "token_conf_exempt",
                 "token_logon_sid")


@prop("primary-tokens-are-at-anonymous-level",
      "Every live Primary token has impersonation level Anonymous.",
      kind="state", sections=("§4.2", "§4.4"), clauses=("TOK-25", "CREATE-10", "CREATE-19"),
      support=TOKEN_SOURCE_LEMMAS,
      mutants=("create-token-accepts-leveled-primary",))
def primary_tokens_anonymous(s):
    """§4.2 Token type: "A Primary token has impersonation_level = Anonymous" (TOK-25)."""
    return s.forall("Token", lambda t: implies(and_(s.token_alive[t], s.token_primary[t]),
                                               eq(s.token_level[t], D.ANONYMOUS)))


@prop("duplicates-never-raise-an-impersonation-level",
      "A successful KACS_IOC_DUPLICATE from an Impersonation token to an Impersonation token yields a "
      "level no higher than the source's.",
      kind="transition", sections=("§4.4", "Appendix A §2"), clauses=("CREATE-20", "IOCTL-17"),
      mutants=("duplicate-raises-the-level",))
def duplicate_never_raises_level(pre, post, step):
    """§4.4 DuplicateToken: Impersonation-to-Impersonation duplication cannot raise the level (CREATE-20)."""
    if step.rule != "ioctl_duplicate":
        return True
    src, new = fd_token(pre, step), step.args["new_token"]
    return implies(and_(ok(step), not_(pre.token_primary[src]), not_(step.args["primary"])),
                   ule(post.token_level[new], pre.token_level[src]))


@prop("write-restricted-tokens-are-user-deny-only",
      "Every live write-restricted token has user_deny_only set.",
      kind="state", sections=("§4.2", "§4.4"), clauses=("TOK-18", "CREATE-11", "CREATE-28", "CREATE-34"),
      support=TOKEN_SOURCE_LEMMAS,
      mutants=("create-token-skips-write-restricted-check",),
      note="Holds at boot (no boot or scenario token is write-restricted), is validated by "
           "kacs_create_token (validation 7) and forced by KACS_IOC_RESTRICT; every other creation copies "
           "both fields, and the Anonymous identity clears write_restricted.")
def write_restricted_user_deny_only(s):
    """§4.2 Identity core: "user_deny_only MUST be true whenever write_restricted is true" (TOK-18)."""
    return s.forall("Token", lambda t: implies(and_(s.token_alive[t], s.token_write_restricted[t]),
                                               s.token_user_deny_only[t]))


@prop("elevation-type-is-one-way",
      "Once a token alive before and after a step is Full or Limited, the step leaves its elevation type "
      "unchanged (never back to Default, never flipped).",
      kind="transition", sections=("§4.2", "§4.6", "Appendix A §2"), clauses=("TOK-36", "TOK-37", "ELEV-05",
                                                                              "ELEV-15", "IOCTL-36"),
      mutants=("link-tokens-allows-role-change",))
def elevation_one_way(pre, post, step):
    """§4.2 Elevation (one-way): never returns to Default (TOK-36), never flips (TOK-37)."""
    return pre.forall("Token", lambda t: implies(
        and_(token_alive_both(pre, post, t),
             or_(eq(pre.token_elevation[t], D.ELEV_FULL), eq(pre.token_elevation[t], D.ELEV_LIMITED))),
        eq(post.token_elevation[t], pre.token_elevation[t])))


@prop("duplicates-and-filtered-copies-start-at-default-elevation",
      "A token made by KACS_IOC_DUPLICATE or KACS_IOC_RESTRICT has elevation type Default.",
      kind="transition", sections=("§4.2", "§4.4"), clauses=("TOK-38", "CREATE-22", "CREATE-32", "IOCTL-18",
                                                             "IOCTL-31"),
      mutants=("restrict-keeps-the-elevation",))
def copies_start_default(pre, post, step):
    """§4.2: "Tokens produced by DuplicateToken and FilterToken start with elevation_type = Default" (TOK-38)."""
    if step.rule not in ("ioctl_duplicate", "ioctl_restrict"):
        return True
    return implies(ok(step), eq(post.token_elevation[step.args["new_token"]], D.ELEV_DEFAULT))


@prop("fixed-token-fields-never-change",
      "The Fixed fields of a token (id, user, user_deny_only, integrity, mandatory policy, type, level, "
      "LogonSession, restricting SIDs, write_restricted, confinement, logon SID) never change on a token "
      "alive before and after a step.",
      kind="transition", sections=("§4.2",), clauses=("TOK-17", "TOK-28", "TOK-42", "MIC-10"),
      mutants=("fork-reuses-a-live-token",))
def fixed_fields(pre, post, step):
    """§4.2: Fixed fields are set at creation only (TOK-17); mandatory_policy is immutable (TOK-28)."""
    return pre.forall("Token", lambda t: implies(token_alive_both(pre, post, t),
                                                 and_(*(eq(post.view(f)[t], pre.view(f)[t]) for f in _FIXED_FIELDS))))


@prop("get-linked-token-without-tcb-yields-an-identification-query-handle",
      "A successful KACS_IOC_GET_LINKED_TOKEN by a caller whose effective token lacks SeTcbPrivilege "
      "returns a TOKEN_QUERY-only handle to a new Identification-level impersonation token.",
      kind="transition", sections=("§4.6", "Appendix A §2"), clauses=("IOCTL-38", "ELEV-08", "ELEV-09", "ELEV-10"),
      mutants=("get-linked-token-leaves-the-mask-stale",),
      note="The clone must be Identification-level (IOCTL-38, ELEV-08) so that it 'cannot be used for "
           "access control decisions' (ELEV-10, via the Identification gate of §10.10).")
def linked_without_tcb(pre, post, step):
    """Appendix A §2 KACS_IOC_GET_LINKED_TOKEN: without SeTcbPrivilege the result is a TOKEN_QUERY-only
    Identification clone (IOCTL-38)."""
    if step.rule != "ioctl_get_linked_token":
        return True
    from properties.catalog_support import effective_of, holds_priv
    th = step.actor
    p = pre.thread_proc[th]
    h = step.args["new_fd"]
    tok = post.fd_token[p, h]
    return implies(and_(ok(step), not_(holds_priv(pre, effective_of(pre, th), D.SE_TCB))),
                   and_(eq(post.fd_mask[p, h], D.TOKEN_QUERY), not_(pre.token_alive[tok]),
                        not_(post.token_primary[tok]), eq(post.token_level[tok], D.IDENTIFICATION)))
