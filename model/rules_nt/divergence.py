"""The KACS/NT divergence table (nt-reference.md §10): for each deliberate
divergence the model covers, the property that captures it (proved on kacs,
refuted on nt) and the rules a bounded search needs to find the shortest
counterexample from the standard world.

Two divergences have no other property that tells them apart; their
properties are in properties/divergence.py (``EXTRA_PROPERTIES`` names them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from model import domain as D
from model.values import and_, eq, implies, not_, or_
from properties.base import Property
from properties.catalog_support import fd_token, ok


def _catalog_entries() -> dict[str, Property]:
    import properties.catalog  # noqa: F401
    from properties.base import CATALOG

    return {k: CATALOG[k] for k in ("anonymous-duplicates-carry-the-anonymous-identity",
                                    "open-thread-token-fails-only-with-esrch-or-eacces")}


EXTRA_PROPERTIES: dict[str, Property] = _catalog_entries()  # now catalog properties (properties/divergence.py)


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
    Divergence("modified-id", "Every successful adjustment bumps modified_id (NT: only an adjustment that "
               "changed something does)", "§10 undeclared, §7.8",
               "every-successful-adjustment-bumps-modified-id-by-one",
               ("kacs_open_self_token", "ioctl_adjust_privs"), 2),
)


def narrowed(prop: Property, rules: tuple[str, ...] | None) -> Property:
    """``prop`` restricted to the steps of ``rules`` (a transition property only)."""
    if rules is None:
        return prop
    return replace(prop, rules=rules)


__all__ = ["EXTRA_PROPERTIES", "DIVERGENCES", "Divergence", "narrowed"]
