"""Shared vocabulary of the property catalog (properties/*.py).

Everything here is written in the value layer, so it works on concrete and on
symbolic states.  ``step`` is a ``properties.base.StepInfo``: ``step.rule`` is
a plain Python string (branching on it is fine), ``step.errno`` is the rule's
errno as a model value (0 on success).

``AccessQuery`` is the query of ``access`` properties: the prover makes its
fields symbolic (a subject token, an SD, a desired mask) and the check relates
``model.access.access_check`` results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model import domain as D
from model.access import SD
from model.rules.common import holds
from model.values import and_, eq, has_all, has_any, implies, inc, ite, not_, uge

# every source a rule copies a new token from is live (for state properties about token fields:
# a copy of a dead, arbitrary token would break them)
TOKEN_SOURCE_LEMMAS = ("live-threads-have-live-effective-tokens", "live-threads-have-live-real-tokens",
                       "live-processes-have-live-primaries", "open-token-fds-refer-to-live-tokens",
                       "socket-snapshots-refer-to-live-tokens", "linked-pairs-are-live-members-of-their-session",
                       "the-anonymous-token-is-well-formed")

# the privileges that make a principal part of the trusted computing base (§7.2)
TCB_CLASS = D.SE_TCB | D.SE_CREATE_TOKEN | D.SE_ASSIGN_PRIMARY

ADJUSTMENT_RULES = ("ioctl_adjust_privs", "ioctl_adjust_groups", "ioctl_adjust_default",
                    "ioctl_adjust_interactivity_scope")
IMPERSONATION_RULES = ("kacs_impersonate_peer", "ioctl_impersonate")

# the right each token ioctl needs on the fd it names (Appendix A §2, §4.8)
IOCTL_RIGHTS: dict[str, tuple[tuple[str, Any], ...]] = {
    "ioctl_install": (("fd", D.TOKEN_ASSIGN_PRIMARY),),
    "external_replace_primary": (("fd", D.TOKEN_ASSIGN_PRIMARY),),
    "ioctl_duplicate": (("fd", D.TOKEN_DUPLICATE),),
    "ioctl_restrict": (("fd", D.TOKEN_DUPLICATE),),
    "ioctl_impersonate": (("fd", D.TOKEN_IMPERSONATE),),
    "ioctl_adjust_privs": (("fd", D.TOKEN_ADJUST_PRIVILEGES),),
    "ioctl_adjust_groups": (("fd", D.TOKEN_ADJUST_GROUPS),),
    "ioctl_adjust_default": (("fd", D.TOKEN_ADJUST_DEFAULT),),
    "ioctl_adjust_interactivity_scope": (("fd", D.TOKEN_ADJUST_INTERACTIVITY_SCOPE),),
    "ioctl_get_linked_token": (("fd", D.TOKEN_QUERY),),
    "ioctl_link_tokens": (("elevated_fd", D.TOKEN_DUPLICATE), ("filtered_fd", D.TOKEN_DUPLICATE)),
}


@dataclass
class AccessQuery:
    """One AccessCheck question (``access`` properties): subject token, SD,
    desired mask and the object type's generic mapping."""

    token: Any
    sd: SD
    desired: Any
    mapping: D.GenericMapping = field(default_factory=lambda: D.TOKEN_MAPPING)


# ------------------------------------------------------------------ steps
def ok(step: Any) -> Any:
    """The step succeeded (every guard passed)."""
    return eq(step.errno, 0)


def acting_process(pre: Any, step: Any) -> Any:
    return pre.thread_proc[step.actor]


def fd_token(pre: Any, step: Any, arg: str = "fd") -> Any:
    """The token named by the actor's fd argument ``arg`` (in ``pre``)."""
    return pre.fd_token[acting_process(pre, step), step.args[arg]]


def fd_has(pre: Any, step: Any, arg: str, rights: Any) -> Any:
    """The actor's fd argument ``arg`` was open with ``rights`` cached (in ``pre``)."""
    p = acting_process(pre, step)
    fd = step.args[arg]
    return and_(pre.fd_open[p, fd], has_all(pre.fd_mask[p, fd], rights))


def real_of(s: Any, th: Any) -> Any:
    return s.thread_real[th]


def effective_of(s: Any, th: Any) -> Any:
    return ite(s.thread_impersonating[th], s.thread_imp_token[th], s.thread_real[th])


def holds_priv(s: Any, tok: Any, privs: Any) -> Any:
    """``privs`` present and enabled on ``tok`` (§7.1 standalone gates)."""
    return holds(s, tok, privs)


def has_present(s: Any, tok: Any, privs: Any) -> Any:
    """Some privilege of ``privs`` is present on ``tok``."""
    return has_any(s.token_privs_present[tok], privs)


def acting(level: Any) -> Any:
    """The level lets the server act as the client (Impersonation or Delegation, §9.1)."""
    return uge(level, D.IMPERSONATION)


def token_alive_both(pre: Any, post: Any, t: Any) -> Any:
    return and_(pre.token_alive[t], post.token_alive[t])


def thread_alive_both(pre: Any, post: Any, t: Any) -> Any:
    return and_(pre.thread_alive[t], post.thread_alive[t])


def unchanged(pre: Any, post: Any, fields: tuple[str, ...], *key: Any) -> Any:
    """Every field of ``fields`` has the same value at ``key`` in ``pre`` and ``post``."""
    return and_(*(eq(pre.view(f)(*key), post.view(f)(*key)) for f in fields))


def new_fd_opened(pre: Any, post: Any, p: Any, h: Any) -> Any:
    """fd ``h`` of ``p`` is open after the step and was not before."""
    return and_(not_(pre.fd_open[p, h]), post.fd_open[p, h])


def takes_next_token_id(pre: Any, post: Any, tok: Any) -> Any:
    """``tok`` carries the token-id counter's value and the counter advances by one (§4.2 token_guid:
    every token object has its own id; the model draws ids from a counter, so they are never reused)."""
    return and_(eq(post.token_id[tok], pre.next_token_id), eq(post.next_token_id, inc(pre.next_token_id, D.ID_W)))


def first_failure(rows: list[tuple[Any, Any]]) -> Any:
    """The errno a syscall table gives: the errno of the first requirement ``(holds, errno)`` of
    ``rows`` (in the spec's order) that does not hold, else 0."""
    out: Any = D.OK
    for cond, errno in reversed(rows):
        out = ite(cond, out, errno)
    return out


__all__ = ["AccessQuery", "TCB_CLASS", "ADJUSTMENT_RULES", "IMPERSONATION_RULES", "IOCTL_RIGHTS", "ok",
           "fd_token", "fd_has", "real_of", "effective_of", "holds_priv", "has_present", "acting",
           "token_alive_both", "thread_alive_both", "unchanged", "new_fd_opened", "implies", "first_failure",
           "takes_next_token_id"]
