"""Guard properties: what the rules' guards must refuse, found by the kill matrix (issue 6).

The mutation benchmark (``benchmarks/mutation_score.py``) showed mutants that drop a guard and
change an outcome the conformance scenarios check, while no catalog property noticed; each
property here closes such a gap (docs/soundness.md, "Survivors")."""

from __future__ import annotations

from model.values import implies, ne, not_, or_
from properties.base import prop

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


__all__ = ["FD_ARGS", "no_success_on_closed_fd"]
