"""The KACS/NT divergence table (nt-reference.md §10): for each deliberate
divergence the model covers, the property that captures it (proved on kacs,
refuted on nt) and the rules a bounded search needs to find the shortest
counterexample from the standard world.

Two divergences have no property in ``properties/`` that tells them apart;
their properties are declared here (``EXTRA_PROPERTIES``, not registered in
the catalog; the lead may move them into ``properties/``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from model import domain as D
from model.values import and_, eq, implies, not_, or_
from properties.base import Property
from properties.catalog_support import fd_token, ok


def _anon_dup_identity(pre, post, step):
    """IOCTL-19, §9.3: an Impersonation duplicate at Anonymous level carries the ANONYMOUS LOGON identity."""
    if step.rule != "ioctl_duplicate":
        return True
    new = step.args["new_token"]
    anon_target = and_(not_(step.args["primary"]), eq(step.args["level"], D.ANONYMOUS))
    return implies(and_(ok(step), anon_target), eq(post.token_user[new], post.sid(D.SID_ANONYMOUS)))


def _open_thread_token_errnos(pre, post, step):
    """§13.1 kacs_open_thread_token: the effective token of the thread, which is its primary when it does
    not impersonate; the call fails only with ESRCH or EACCES."""
    if step.rule != "kacs_open_thread_token":
        return True
    return or_(ok(step), eq(step.errno, D.ESRCH), eq(step.errno, D.EACCES))


EXTRA_PROPERTIES: dict[str, Property] = {
    "anonymous-duplicates-carry-the-anonymous-identity": Property(
        "anonymous-duplicates-carry-the-anonymous-identity",
        "A successful KACS_IOC_DUPLICATE to an Impersonation token at Anonymous level yields a token whose "
        "user is ANONYMOUS LOGON (S-1-5-7), whatever the source.",
        "transition", ("§4.4", "§9.3", "§13.2"), _anon_dup_identity, {"kacs": "proved", "nt": "refuted"},
        ("IOCTL-19", "IMP-25"), rules=("ioctl_duplicate",)),
    "open-thread-token-fails-only-with-esrch-or-eacces": Property(
        "open-thread-token-fails-only-with-esrch-or-eacces",
        "kacs_open_thread_token fails only with ESRCH or EACCES: a thread that does not impersonate yields "
        "its primary token (no STATUS_NO_TOKEN, no STATUS_CANT_OPEN_ANONYMOUS).",
        "transition", ("§13.1", "§4.8"), _open_thread_token_errnos, {"kacs": "proved", "nt": "refuted"},
        ("RIGHTS-01",), rules=("kacs_open_thread_token",)),
}


@dataclass(frozen=True)
class Divergence:
    key: str
    title: str  # the divergence, as nt-reference.md states it
    source: str  # where nt-reference.md lists it
    prop: str  # the property that captures it
    bmc_rules: tuple[str, ...]  # a rule subset the bounded search explores (a trace over them is a trace of the profile)
    depth: int
    kacs_rules: tuple[str, ...] | None = None  # restrict the kacs proof to these rules (None: the whole property)


DIVERGENCES: tuple[Divergence, ...] = (
    Divergence("ceiling", "Impersonation integrity ceiling always enforced (NT: SeImpersonatePrivilege passes "
               "before the integrity step)", "§10 table, §5.4 step 2",
               "se-impersonate-never-lifts-the-integrity-ceiling",
               ("socket_create", "socket_connect", "kacs_impersonate_peer"), 3),
    Divergence("origin", "Origin logon-session check dropped (NT: a token from the server's own logon session "
               "may be impersonated without the privilege)", "§10 table, §5.4 step 4",
               "threads-never-act-as-another-user-without-se-impersonate",
               ("kacs_open_self_token", "ioctl_adjust_privs", "kacs_create_token", "ioctl_impersonate"), 4),
    Divergence("hard-deny", "Restricted server -> unrestricted client of the same user: KACS -EPERM, NT a silent "
               "Identification token", "§10 undeclared, §5.5",
               "restricted-primaries-never-impersonate-their-unrestricted-user",
               ("kacs_create_token", "ioctl_install", "ioctl_impersonate"), 4),
    Divergence("adjust-privs", "Privilege adjustment all-or-nothing (NT: partial success with "
               "STATUS_NOT_ALL_ASSIGNED)", "§10 undeclared, §7.2",
               "failed-steps-change-nothing-but-used-bits",
               ("kacs_open_self_token", "ioctl_adjust_privs"), 2, kacs_rules=("ioctl_adjust_privs",)),
    Divergence("assign-primary", "Primary assignment always needs SeAssignPrimaryTokenPrivilege (NT: child/"
               "sibling tokens of no higher integrity are exempt)", "§10 undeclared, §6.2",
               "primary-changes-only-by-privileged-install-or-lowering-exec",
               ("kacs_open_self_token", "ioctl_adjust_privs", "ioctl_duplicate", "ioctl_install"), 4),
    Divergence("anon-dup", "Duplicating to Anonymous substitutes ANONYMOUS LOGON (NT: keeps the identity, "
               "only the level changes)", "§10 undeclared, §4",
               "anonymous-duplicates-carry-the-anonymous-identity",
               ("kacs_open_self_token", "ioctl_duplicate"), 2),
    Divergence("open-thread-token", "Opening a non-impersonating thread's token yields its primary (NT: "
               "STATUS_NO_TOKEN; OpenAsSelf; STATUS_CANT_OPEN_ANONYMOUS)", "§1.3-1.6",
               "open-thread-token-fails-only-with-esrch-or-eacces", ("kacs_open_thread_token",), 1),
)


def narrowed(prop: Property, rules: tuple[str, ...] | None) -> Property:
    """``prop`` restricted to the steps of ``rules`` (a transition property only)."""
    if rules is None:
        return prop
    return replace(prop, rules=rules)


__all__ = ["EXTRA_PROPERTIES", "DIVERGENCES", "Divergence", "narrowed"]
