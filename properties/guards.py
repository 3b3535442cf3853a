"""Guard properties: what the rules' guards must refuse, found by the kill matrix (issue 6).

The mutation benchmark (``benchmarks/mutation_score.py``) showed mutants that drop a guard and
change an outcome the conformance scenarios check, while no catalog property noticed; each
property here closes such a gap (docs/soundness.md, "Survivors")."""

from __future__ import annotations

from model import domain as D
from model.rules.common import effective_token, holds
from model.values import and_, eq, has_all, implies, ite, ne, not_, or_
from properties.base import prop
from properties.catalog_support import IOCTL_RIGHTS

# every rule that operates on existing token fds of the calling process: rule -> its fd arguments
FD_ARGS: dict[str, tuple[str, ...]] = {
    "close_handle": ("fd",), "set_cloexec": ("fd",), "external_replace_primary": ("fd",),
    "ioctl_adjust_default": ("fd",), "ioctl_adjust_groups": ("fd",), "ioctl_adjust_interactivity_scope": ("fd",),
    "ioctl_adjust_privs": ("fd",), "ioctl_duplicate": ("fd",), "ioctl_get_linked_token": ("fd",),
    "ioctl_impersonate": ("fd",), "ioctl_install": ("fd",), "ioctl_link_tokens": ("elevated_fd", "filtered_fd"),
    "ioctl_restrict": ("fd",),
}


@prop("no-step-succeeds-on-a-closed-token-fd",
      "No close, fcntl(F_SETFD), token ioctl or external primary replacement succeeds when one of its token "
      "fd arguments is not open in the calling process.",
      kind="transition", sections=("Appendix A §2", "§4.8"), clauses=("IOCTL-01", "RIGHTS-16"),
      expect={"kacs": "proved", "nt": "proved"}, rules=tuple(sorted(FD_ARGS)),
      mutants=("close-ignores-ebadf", "set-cloexec-ignores-ebadf"))
def no_success_on_closed_fd(pre, post, step):
    """Appendix A §2: every token operation goes through an open token fd whose per-handle access mask
    gates it (IOCTL-01); §4.8: the rights are those cached on the fd at open (RIGHTS-16), so a closed fd
    carries none and the operation fails (EBADF in the rules' first fd guard)."""
    names = FD_ARGS.get(step.rule)
    if names is None:
        return True
    p = pre.thread_proc[step.actor]
    closed = or_(*(not_(pre.fd_open[p, step.args[a]]) for a in names))
    return implies(closed, ne(step.errno, 0))


# requirements a rule's syscall table lists before its fd arguments (rule -> rows (holds, errno)):
# KACS_IOC_LINK_TOKENS "Requires SeTcbPrivilege" first (Appendix A §2; DECISIONS.md guard order), on the
# caller's effective token (§7.1 standalone gate)
BEFORE_FDS = {
    "ioctl_link_tokens": lambda pre, step: [(holds(pre, effective_token(pre, step.actor), D.SE_TCB), D.EPERM)],
}


def fd_rows(pre, step):
    """The fd requirements of a rule in its table's order, each with its errno: the requirements listed
    before the fds, then every fd argument open in the caller's process (EBADF), then each fd's cached mask
    holding the right the call needs (EACCES, ``IOCTL_RIGHTS``)."""
    p = pre.thread_proc[step.actor]
    names = FD_ARGS[step.rule]
    rows = list(BEFORE_FDS[step.rule](pre, step)) if step.rule in BEFORE_FDS else []
    rows.append((and_(*(pre.fd_open[p, step.args[a]] for a in names)), D.EBADF))
    needs = IOCTL_RIGHTS.get(step.rule, ())
    if needs:
        rows.append((and_(*(has_all(pre.fd_mask[p, step.args[a]], right) for a, right in needs)), D.EACCES))
    return rows


@prop("a-closed-fd-fails-with-ebadf-and-a-missing-handle-right-with-eacces",
      "Every close, fcntl(F_SETFD), token ioctl and external primary replacement whose fd requirements are "
      "not all met fails with the errno of the first unmet one: EBADF when one of its token fd arguments is not "
      "open in the calling process, else EACCES when the cached mask of one of them lacks the right the call "
      "needs (TOKEN_ASSIGN_PRIMARY, TOKEN_DUPLICATE, TOKEN_IMPERSONATE, TOKEN_QUERY, TOKEN_ADJUST_*), "
      "KACS_IOC_LINK_TOKENS checking SeTcbPrivilege (EPERM) before its fds.",
      kind="transition", sections=("Appendix A §2", "§4.8", "§13.2"),
      clauses=("IOCTL-01", "RIGHTS-16", "IOCTL-12", "IOCTL-16", "IOCTL-21", "IOCTL-24", "IOCTL-27", "IOCTL-28",
               "IOCTL-29", "IOCTL-34", "IOCTL-37", "LIFE-23"),
      expect={"kacs": "proved", "nt": "proved"}, rules=tuple(sorted(FD_ARGS)),
      mutants=("adjust-groups-checks-the-right-before-the-fd", "install-accepts-an-fd-without-assign-primary",
               "link-tokens-checks-the-fds-before-tcb", "link-tokens-accepts-fds-without-token-duplicate",
               "get-linked-token-accepts-an-fd-without-token-query"))
def fd_errno_precedence(pre, post, step):
    """Appendix A §2: "Each token fd carries a per-handle access mask that gates which ioctls the holder can
    call" (IOCTL-01), each ioctl naming the right it requires (IOCTL-12 ... IOCTL-37); §4.8 Access check model:
    "subsequent operations verify the cached mask" (RIGHTS-16); §4.3 external replacement needs
    TOKEN_ASSIGN_PRIMARY on the fd (LIFE-23).  A closed fd carries no handle at all, so it is reported
    first (EBADF), as Linux does for any fd syscall; the orders are DECISIONS.md's guard orders."""
    if step.rule not in FD_ARGS:
        return True
    rows = fd_rows(pre, step)
    expected = D.OK
    for cond, errno in reversed(rows):
        expected = ite(cond, expected, errno)
    return implies(not_(and_(*(c for c, _ in rows))), eq(step.errno, expected))


__all__ = ["BEFORE_FDS", "FD_ARGS", "fd_errno_precedence", "fd_rows", "no_success_on_closed_fd"]
