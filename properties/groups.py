"""Group properties (§4.2 Identity core, §4.4 FilterToken, §4.5 AdjustGroups)."""

from __future__ import annotations

from model import domain as D
from model.values import and_, clear, eq, implies, subset
from properties.base import prop
from properties.catalog_support import TOKEN_SOURCE_LEMMAS, fd_token, ok, token_alive_both

_FIXED_GROUP_ATTRS = ("token_groups", "token_g_default", "token_g_mandatory", "token_g_deny_only",
                      "token_g_logon", "token_g_owner")


def _per_token(pre, post, fn):
    return pre.forall("Token", lambda t: implies(token_alive_both(pre, post, t), fn(t)))


@prop("group-sids-are-fixed",
      "The group SID slots and the set of slots holding a group never change on a token alive before "
      "and after a step.",
      kind="transition", sections=("§4.2", "§4.5"), clauses=("TOK-21",),
      mutants=("fork-reuses-a-live-token",))
def group_sids_fixed(pre, post, step):
    """§4.2: "The set of group SIDs is fixed; AdjustGroups cannot add or remove SIDs" (TOK-21)."""
    return _per_token(pre, post, lambda t: and_(
        eq(post.token_groups[t], pre.token_groups[t]),
        *(eq(post.group_sid(t, i), pre.group_sid(t, i)) for i in range(D.GROUP_SLOTS))))


@prop("group-attributes-other-than-enabled-are-fixed",
      "Only SE_GROUP_ENABLED of a token's groups changes at runtime: mandatory, enabled-by-default, "
      "deny-only, logon-SID and owner attributes never change on a token alive before and after a step.",
      kind="transition", sections=("§4.2", "§4.5"), clauses=("TOK-22", "ADJ-16", "CREATE-26"),
      mutants=("fork-reuses-a-live-token",))
def group_attrs_fixed(pre, post, step):
    """§4.2: groups may be toggled via SE_GROUP_ENABLED only (TOK-22); deny-only is permanent (CREATE-26)."""
    return _per_token(pre, post, lambda t: and_(*(eq(post.view(f)[t], pre.view(f)[t]) for f in _FIXED_GROUP_ATTRS)))


@prop("deny-only-groups-are-never-enabled",
      "No live token has a group that is both SE_GROUP_USE_FOR_DENY_ONLY and SE_GROUP_ENABLED.",
      kind="state", sections=("§4.2", "§4.4", "§4.5"), clauses=("TOK-22", "ADJ-13", "CREATE-26", "IOCTL-26"),
      expect={"kacs": "refuted"}, mutants=("adjust-groups-ignores-protected-groups",),
      note="Refuted by kacs_create_token: none of the ten CreateToken validations (§4.4) relates "
           "SE_GROUP_USE_FOR_DENY_ONLY and SE_GROUP_ENABLED, so a SeCreateTokenPrivilege holder can mint "
           "a token with an enabled deny-only group (harmless for AccessCheck, which never matches "
           "deny-only groups in allow ACEs, but a spec gap).  FilterToken and AdjustGroups keep it; see "
           "deny-only-groups-are-never-re-enabled for the runtime guarantee.")
def deny_only_never_enabled_state(s):
    """§4.2: SE_GROUP_USE_FOR_DENY_ONLY groups cannot be (re-)enabled (TOK-22)."""
    return s.forall("Token", lambda t: implies(
        s.token_alive[t], eq(s.token_g_deny_only[t] & s.token_g_enabled[t] & s.token_groups[t], 0)))


@prop("deny-only-groups-are-never-re-enabled",
      "No step enables a deny-only group that was disabled, on a token alive before and after it.",
      kind="transition", sections=("§4.5", "Appendix A §2"), clauses=("ADJ-13", "ADJ-16", "IOCTL-25", "IOCTL-26"),
      mutants=("adjust-groups-ignores-protected-groups",))
def deny_only_never_reenabled(pre, post, step):
    """§4.5: SE_GROUP_USE_FOR_DENY_ONLY groups cannot be re-enabled (ADJ-13); reset keeps them (ADJ-16)."""
    return _per_token(pre, post, lambda t: eq(
        post.token_g_enabled[t] & clear(pre.token_g_deny_only[t], pre.token_g_enabled[t]), 0))


@prop("mandatory-groups-are-never-disabled",
      "No step disables an enabled SE_GROUP_MANDATORY group of a token alive before and after it.",
      kind="transition", sections=("§4.5", "§4.2"), clauses=("ADJ-12", "TOK-22", "ADJ-16"),
      expect={"kacs": "refuted"}, mutants=("adjust-groups-ignores-protected-groups",),
      note="Refuted through the reset path of KACS_IOC_ADJUST_GROUPS: reset restores "
           "SE_GROUP_ENABLED_BY_DEFAULT (ADJ-16), and CreateToken (§4.4) does not require a mandatory "
           "group to be enabled-by-default.  A token minted with a MANDATORY|ENABLED group lacking "
           "ENABLED_BY_DEFAULT loses it on reset.  See mandatory-default-groups-are-never-disabled.")
def mandatory_never_disabled_naive(pre, post, step):
    """§4.5: SE_GROUP_MANDATORY groups cannot be disabled (ADJ-12)."""
    return _per_token(pre, post, lambda t: subset(pre.token_g_enabled[t] & pre.token_g_mandatory[t] & pre.token_groups[t],
                                                  post.token_g_enabled[t]))


@prop("mandatory-default-groups-are-never-disabled",
      "No step disables an enabled group that is mandatory, enabled-by-default and not deny-only, on "
      "a token alive before and after it.",
      kind="transition", sections=("§4.5", "§4.2"), clauses=("ADJ-12", "ADJ-16", "TOK-22", "IOCTL-25"),
      mutants=("adjust-groups-ignores-protected-groups",),
      note="The refined mandatory-group statement: true for every group minted the usual way "
           "(MANDATORY|ENABLED|ENABLED_BY_DEFAULT), including the logon SID.")
def mandatory_default_never_disabled(pre, post, step):
    """§4.5: SE_GROUP_MANDATORY groups cannot be disabled (ADJ-12)."""
    def protected(t):
        return clear(pre.token_g_enabled[t] & pre.token_g_mandatory[t] & pre.token_g_default[t] & pre.token_groups[t],
                     pre.token_g_deny_only[t])
    return _per_token(pre, post, lambda t: subset(protected(t), post.token_g_enabled[t]))


@prop("logon-group-is-enabled-unless-deny-only",
      "The logon-SID group of every live token is enabled and enabled-by-default unless it was made deny-only.",
      kind="state", sections=("§4.2", "§4.4", "§4.5"), clauses=("ADJ-14", "CREATE-05", "TOK-19", "IOCTL-25"),
      support=TOKEN_SOURCE_LEMMAS,
      mutants=("adjust-groups-ignores-protected-groups",))
def logon_group_enabled(s):
    """§4.5: the logon SID group (SE_GROUP_LOGON_ID) cannot be disabled (ADJ-14); §4.4 injects it
    with MANDATORY|ENABLED_BY_DEFAULT|ENABLED|LOGON_ID (CREATE-05)."""
    def logon(t):
        return clear(s.token_g_logon[t] & s.token_groups[t], s.token_g_deny_only[t])
    return s.forall("Token", lambda t: implies(s.token_alive[t], and_(subset(logon(t), s.token_g_enabled[t]),
                                                                       subset(logon(t), s.token_g_default[t]))))


@prop("restrict-never-adds-privileges-or-enables-groups",
      "A token made by KACS_IOC_RESTRICT has a subset of its source's present and enabled privileges, "
      "the same groups, a subset of its enabled groups, and is restricted if its source was.",
      kind="transition", sections=("§4.4",), clauses=("CREATE-25", "CREATE-26", "CREATE-32", "CREATE-33"),
      mutants=("restrict-adds-instead-of-removing",))
def restrict_only_reduces(pre, post, step):
    """§4.4 FilterToken: a filtered token can only lose authority (CREATE-25..34)."""
    if step.rule != "ioctl_restrict":
        return True
    src, new = fd_token(pre, step), step.args["new_token"]
    return implies(ok(step), and_(
        subset(post.token_privs_present[new], pre.token_privs_present[src]),
        subset(post.token_privs_enabled[new], pre.token_privs_enabled[src]),
        eq(post.token_groups[new], pre.token_groups[src]),
        subset(post.token_g_enabled[new], pre.token_g_enabled[src]),
        subset(pre.token_g_deny_only[src], post.token_g_deny_only[new]),
        implies(pre.token_restricted[src], post.token_restricted[new]),
        eq(post.token_user[new], pre.token_user[src]),
        eq(post.token_integrity[new], pre.token_integrity[src])))
