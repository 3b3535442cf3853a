"""The named mutants every property is checked against (``tokenproof.mutants.SEEDED``).

Each one breaks a rule in a way a spec author could plausibly get wrong.
Properties name the mutants that must refute them (``mutants=`` in ``@prop``).
"""

from __future__ import annotations

from tokenproof.mutants import Mutant, seed

seed(Mutant("fork-shares-token", "fork", "fork does not create the child's token object (the child points at a dead token)",
            skip_effect=0))
seed(Mutant("exec-keeps-impersonation", "exec", "exec does not revert the caller's impersonation",
            skip_effect=1))
seed(Mutant("close-ignores-ebadf", "close_handle", "close_handle does not check the fd is open", drop_guard=0))
