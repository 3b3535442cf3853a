"""Seeded mutants for the rule contracts in ``properties/contracts_adjustment.py`` (registered with ``seed``).

Most are the systematic operators of ``tokenproof.mutants`` (drop the k-th guard, skip the k-th effect)
under a readable name; the indices count the rule's own ``require`` / effect calls in
``model/rules/adjustment.py`` and ``model/rules/creation.py``.  The ``swap`` helpers below are small
wrappers around the real helpers, never copies of a rule.
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules import common as _common
from model.values import BV, eq, ne, uge, ule
from tokenproof.mutants import Mutant, seed


def _bump_and_drop_enabled_privileges(st: Any, tok: Any) -> None:
    """``bump_modified`` that also disables every privilege of the token."""
    _common.bump_modified(st, tok)
    st.set("token_privs_enabled", tok, BV(0, D.PRIV_W))


# ------------------------------------------------------------------ kacs_privilege_check
seed(Mutant("privilege-check-ignores-missing-privileges", "kacs_privilege_check",
            "kacs_privilege_check succeeds whether or not the privileges are present and enabled (its only "
            "guard dropped)", drop_guard=0))
seed(Mutant("privilege-check-marks-nothing-used", "kacs_privilege_check",
            "a successful kacs_privilege_check does not mark the checked privileges used", skip_effect=0))

# ------------------------------------------------------------------ AdjustSessionID
seed(Mutant("adjust-scope-skips-the-tcb-check", "ioctl_adjust_interactivity_scope",
            "KACS_IOC_ADJUST_INTERACTIVITY_SCOPE does not require SeTcbPrivilege on the real token", drop_guard=2))
seed(Mutant("adjust-scope-forgets-to-mark-tcb-used", "ioctl_adjust_interactivity_scope",
            "KACS_IOC_ADJUST_INTERACTIVITY_SCOPE does not mark SeTcbPrivilege used (PRIV-03)", skip_effect=0))
seed(Mutant("adjust-scope-forgets-the-scope", "ioctl_adjust_interactivity_scope",
            "KACS_IOC_ADJUST_INTERACTIVITY_SCOPE succeeds without writing the new scope", skip_effect=1))
seed(Mutant("adjust-scope-drops-enabled-privileges", "ioctl_adjust_interactivity_scope",
            "KACS_IOC_ADJUST_INTERACTIVITY_SCOPE also disables every privilege of the token (ADJ-20)",
            swap=("bump_modified", _bump_and_drop_enabled_privileges)))

# ------------------------------------------------------------------ AdjustDefault
seed(Mutant("adjust-default-accepts-any-owner", "ioctl_adjust_default",
            "KACS_IOC_ADJUST_DEFAULT accepts an owner index naming neither the user nor an SE_GROUP_OWNER "
            "group (ADJ-22)", drop_guard=2))
seed(Mutant("adjust-default-accepts-any-primary-group", "ioctl_adjust_default",
            "KACS_IOC_ADJUST_DEFAULT accepts a primary-group index naming no SID of the token (ADJ-23)",
            drop_guard=3))
seed(Mutant("adjust-default-forgets-the-dacl", "ioctl_adjust_default",
            "KACS_IOC_ADJUST_DEFAULT does not store the new default DACL", skip_effect=0))
seed(Mutant("adjust-default-forgets-the-owner", "ioctl_adjust_default",
            "KACS_IOC_ADJUST_DEFAULT does not store the new owner index", skip_effect=1))
seed(Mutant("adjust-default-forgets-the-primary-group", "ioctl_adjust_default",
            "KACS_IOC_ADJUST_DEFAULT does not store the new primary-group index", skip_effect=2))

# ------------------------------------------------------------------ AdjustGroups
seed(Mutant("adjust-groups-accepts-an-empty-request", "ioctl_adjust_groups",
            "KACS_IOC_ADJUST_GROUPS accepts count = 0 and a reset sentinel mixed with entries (IOCTL-24/26)",
            drop_guard=4))
seed(Mutant("adjust-groups-accepts-foreign-indices", "ioctl_adjust_groups",
            "KACS_IOC_ADJUST_GROUPS accepts indices that are not groups of the token (ADJ-17)", drop_guard=5))
seed(Mutant("adjust-groups-forgets-the-enabled-mask", "ioctl_adjust_groups",
            "a successful KACS_IOC_ADJUST_GROUPS does not write the new enabled mask", skip_effect=0))

# ------------------------------------------------------------------ AdjustPrivileges
seed(Mutant("adjust-privs-accepts-malformed-entries", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS ignores the entry-encoding checks (duplicates, unknown attribute bits, "
            "IOCTL-22/23)", drop_guard=2))
seed(Mutant("adjust-privs-accepts-overlapping-entries", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS accepts a privilege named by two entries (ADJ-09)", drop_guard=3))
seed(Mutant("adjust-privs-remove-keeps-present", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS remove does not clear privileges_present (ADJ-08)", skip_effect=1))

# ------------------------------------------------------------------ CreateToken
seed(Mutant("create-token-accepts-malformed-sids", "kacs_create_token",
            "kacs_create_token skips validation 2 (structurally well-formed SIDs, CREATE-08)", drop_guard=1))
seed(Mutant("create-token-accepts-any-owner-index", "kacs_create_token",
            "kacs_create_token skips validation 3 (owner is the user or an SE_GROUP_OWNER group, CREATE-09)",
            drop_guard=2))
seed(Mutant("create-token-accepts-a-missing-session", "kacs_create_token",
            "kacs_create_token does not check that auth_id names an existing LogonSession (CREATE-02)",
            drop_guard=4))
seed(Mutant("create-token-forgets-to-mark-its-privilege-used", "kacs_create_token",
            "kacs_create_token does not mark SeCreateTokenPrivilege used (PRIV-03)", skip_effect=0))
seed(Mutant("create-token-lists-one-group-too-many", "kacs_create_token",
            "kacs_create_token counts caller groups with <= instead of < (one slot past groups_count is "
            "taken as a caller group)", swap=("ult", ule)))
seed(Mutant("create-token-forgets-to-advance-the-token-id", "kacs_create_token",
            "kacs_create_token does not advance the token-id counter (the next token reuses the id)",
            skip_effect=2))
seed(Mutant("create-token-forgets-the-session-had-a-token", "kacs_create_token",
            "kacs_create_token does not record that its LogonSession had a token (SESS-03)", skip_effect=3))
seed(Mutant("create-token-caches-a-stale-mask", "kacs_create_token",
            "kacs_create_token does not set the new fd's cached mask to TOKEN_ALL_ACCESS (CREATE-16)",
            skip_effect=6))

# ------------------------------------------------------------------ DuplicateToken
seed(Mutant("duplicate-skips-the-desired-access-check", "ioctl_duplicate",
            "KACS_IOC_DUPLICATE does not check the desired access against the new token's SD (IOCTL-20)",
            drop_guard=3))
seed(Mutant("duplicate-forgets-to-advance-the-token-id", "ioctl_duplicate",
            "KACS_IOC_DUPLICATE does not advance the token-id counter", skip_effect=1))
seed(Mutant("duplicate-leaves-its-fd-closed", "ioctl_duplicate",
            "KACS_IOC_DUPLICATE does not open the returned fd", skip_effect=3))

# ------------------------------------------------------------------ FilterToken
seed(Mutant("restrict-accepts-foreign-deny-indices", "ioctl_restrict",
            "KACS_IOC_RESTRICT accepts deny-only indices that are not groups of the source (CREATE-29)",
            drop_guard=3))
seed(Mutant("restrict-caches-a-stale-mask", "ioctl_restrict",
            "KACS_IOC_RESTRICT does not copy the source fd's mask to the new fd (IOCTL-31)", skip_effect=5))
seed(Mutant("restrict-names-the-effective-user-as-creator", "ioctl_restrict",
            "KACS_IOC_RESTRICT makes the caller's effective (impersonated) user the owner of the new token's SD",
            swap=("real_token", _common.effective_token)))
seed(Mutant("restrict-reads-ne-as-eq", "ioctl_restrict",
            "KACS_IOC_RESTRICT with ne read as eq (an empty restricting list makes the token restricted)",
            swap=("ne", eq)))

# ------------------------------------------------------------------ the same operators as the generated mutants no
# oracle of the kill matrix reaches (SURVIVORS_ADJUSTMENT): their traces show the contracts refute them
seed(Mutant("adjust-groups-accepts-malformed-entries", "ioctl_adjust_groups",
            "KACS_IOC_ADJUST_GROUPS ignores the entry-encoding checks (count, duplicates, sentinel; ADJ-17)",
            drop_guard=2))
seed(Mutant("adjust-groups-accepts-overlapping-entries", "ioctl_adjust_groups",
            "KACS_IOC_ADJUST_GROUPS accepts a group both enabled and disabled in one request (IOCTL-25)",
            drop_guard=3))
seed(Mutant("adjust-groups-lets-the-user-sid-be-disabled", "ioctl_adjust_groups",
            "KACS_IOC_ADJUST_GROUPS lets a group carrying the user SID be disabled (ADJ-15)", drop_guard=7))
seed(Mutant("adjust-privs-rejects-a-lone-reset", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS with ne read as eq: the lone reset sentinel is rejected, an empty request "
            "accepted (IOCTL-22)", swap=("ne", eq)))
seed(Mutant("duplicate-refuses-same-level-copies", "ioctl_duplicate",
            "KACS_IOC_DUPLICATE with > read as >=: an Impersonation duplicate at the source's own level is "
            "refused (CREATE-20 allows 'equal to or lower')", swap=("ugt", uge)))
seed(Mutant("duplicate-names-the-effective-user-as-creator", "ioctl_duplicate",
            "KACS_IOC_DUPLICATE makes the caller's effective (impersonated) user the creator of the new SD",
            swap=("real_token", _common.effective_token)))
seed(Mutant("restrict-matches-restricting-sids-with-ne", "ioctl_restrict",
            "KACS_IOC_RESTRICT with eq read as ne: the intersection with a restricted source's list keeps the "
            "SIDs it does not share (CREATE-33)", swap=("eq", ne)))
seed(Mutant("restrict-accepts-malformed-restricting-sids", "ioctl_restrict",
            "KACS_IOC_RESTRICT accepts a malformed restricting SID (CREATE-30)", drop_guard=4))
seed(Mutant("restrict-skips-the-intersection-check", "ioctl_restrict",
            "KACS_IOC_RESTRICT accepts an empty intersection on a restricted source (CREATE-31)", drop_guard=5))
seed(Mutant("create-token-accepts-any-primary-group-index", "kacs_create_token",
            "kacs_create_token skips validation 4 (primary group index 0..N, CREATE-09)", drop_guard=3))
seed(Mutant("create-token-accepts-the-logon-sid-among-groups", "kacs_create_token",
            "kacs_create_token lets the caller list the session's logon SID among its groups (CREATE-06)",
            drop_guard=6))
seed(Mutant("create-token-accepts-isolation-without-confinement", "kacs_create_token",
            "kacs_create_token skips validation 8 (isolation_boundary needs a confinement SID, CREATE-12)",
            drop_guard=9))
