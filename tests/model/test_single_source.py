"""Every rule runs unchanged on the symbolic backend (DEVELOPERS.md: rules are
written once).  A Python ``if``/``and``/``or`` on a model value raises here."""

from __future__ import annotations

import pytest

from model.rules import RULES
from model.state import THREAD
from model.symbolic import Universe


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_builds_a_symbolic_transition(name):
    rule = RULES[name]
    uni = Universe("unbounded")
    pre = uni.fresh_state("pre")
    actor = None if rule.kernel else uni.const("actor", THREAD)
    args = {a.name: uni.const(a.name, a.type) for a in rule.args}
    out = rule.apply(pre, actor, args)
    assert out.post is not None
    # the errno is a term or a constant of 8 bits
    errno = out.errno
    assert getattr(errno, "width", None) == 8 or errno.size() == 8
