"""Hostile input: every loader ends in a clear error (and the CLI in exit code 2), never a
traceback, a hang or a crash.  Hypothesis (derandomized, the ``ci`` profile of conftest.py)
plus fixed hostile cases; the input bounds are documented in docs/soundness.md."""

from __future__ import annotations

import json
import string

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.world import SpecError, token_from_spec
from tokenproof.cli import main
from tokenproof.soundness import MAX_INPUT_BYTES, MAX_JSON_DEPTH, InputTooLarge, check_json_text
from tokenproof.trace import TraceError, execute, load_trace, parse_trace

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

NAMES = st.sampled_from(["sh1", "init", "alice", "bob", "fork", "kacs_open_self_token", "ioctl_install", "x",
                         "token#5", "thread#99", "S-1-5-18", "S-1-", "SYSTEM", "kernel", "", "OK", "EPERM",
                         "MAXIMUM_ALLOWED", "Low", "schema", "steps", "args", "\u0000", "é" * 3])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False), NAMES, st.text(string.printable, max_size=12))
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(NAMES, inner, max_size=4)), max_leaves=20)
RULES = st.sampled_from(["fork", "clone_thread", "kacs_open_self_token", "ioctl_duplicate", "ioctl_install",
                         "close_handle", "kacs_create_token", "kernel_free_token", "socket_create", "nope"])


def _step():
    return st.fixed_dictionaries({"actor": NAMES, "rule": RULES},
                                 optional={"args": st.dictionaries(st.sampled_from(
                                     ["fd", "access_mask", "real", "target", "child", "level", "primary",
                                      "token", "server", "bogus"]), SCALARS, max_size=4),
                                     "expect": st.dictionaries(st.sampled_from(["errno", "ret", "x"]), SCALARS,
                                                               max_size=2)})


TRACES = st.one_of(
    JSONISH,
    st.fixed_dictionaries({"schema": st.just("tokenproof-trace/1")},
                          optional={"scenario": st.one_of(st.just("standard"), NAMES), "steps": st.lists(_step(),
                                                                                                        max_size=4),
                                    "auto_gc": SCALARS, "sids": st.dictionaries(NAMES, NAMES, max_size=2),
                                    "setup": JSONISH, "state": JSONISH, "violation": JSONISH}),
)


def _load_and_run(path) -> None:
    try:
        execute(load_trace(path))
    except TraceError as e:
        assert str(e), "a TraceError without a message"


@FUZZ
@given(TRACES)
def test_trace_loader_never_raises_anything_but_trace_error(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("fuzz") / "t.json"
    p.write_text(json.dumps(data))
    _load_and_run(p)


@FUZZ
@given(st.binary(max_size=200))
def test_trace_loader_on_arbitrary_bytes(tmp_path_factory, raw):
    p = tmp_path_factory.mktemp("fuzz") / "t.json"
    p.write_bytes(raw)
    _load_and_run(p)


TOKEN_KEYS = ["user", "groups", "privileges", "integrity", "policy", "type", "level", "session",
              "restricted_sids", "write_restricted", "owner", "bogus"]


@FUZZ
@given(st.one_of(JSONISH, st.dictionaries(st.sampled_from(TOKEN_KEYS), JSONISH, max_size=6)))
def test_token_spec_loader_raises_only_spec_error(spec):
    from model.scenarios import standard

    w = standard()
    try:
        token_from_spec(w, spec, "token")
    except SpecError as e:
        assert str(e)


@FUZZ
@given(st.one_of(JSONISH, st.dictionaries(st.sampled_from(["format", "sids", "names", "universe", "globals",
                                                           "threads", "tokens", "fds", "x"]), JSONISH, max_size=5)))
def test_state_file_loader_raises_only_spec_error(doc):
    from tokenproof.statefile import load_world

    try:
        load_world(doc)
    except SpecError as e:
        assert str(e)


# ------------------------------------------------------------------ fixed hostile cases via the CLI
def _cli_run(tmp_path, text: str | bytes, *extra: str):
    p = tmp_path / "t.json"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    res = CliRunner().invoke(main, ["run", str(p), *extra])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


BASE = {"schema": "tokenproof-trace/1", "scenario": "standard"}
HOSTILE = {
    "not-json": "{",
    "empty": "",
    "a-list": "[]",
    "bad-schema": json.dumps({"schema": "tokenproof-trace/999"}),
    "unknown-key": json.dumps({**BASE, "stepz": []}),
    "unknown-rule": json.dumps({**BASE, "steps": [{"actor": "sh1", "rule": "forkk", "args": {}}]}),
    "unknown-actor": json.dumps({**BASE, "steps": [{"actor": "nobody", "rule": "fork", "args": {}}]}),
    "wrong-type-args": json.dumps({**BASE, "steps": [{"actor": "sh1", "rule": "fork", "args": [1, 2]}]}),
    "huge-fd": json.dumps({**BASE, "steps": [{"actor": "sh1", "rule": "close_handle", "args": {"fd": 10**400}}]}),
    "negative-fd": json.dumps({**BASE, "steps": [{"actor": "sh1", "rule": "close_handle", "args": {"fd": -1}}]}),
    "huge-mask": json.dumps({**BASE, "steps": [{"actor": "sh1", "rule": "kacs_open_self_token",
                                                "args": {"real": False, "access_mask": 2**64}}]}),
    "nan": '{"schema": "tokenproof-trace/1", "steps": [{"actor": "sh1", "rule": "close_handle", "args": {"fd": NaN}}]}',
    "deep-nesting": "[" * 10_000 + "]" * 10_000,
    "deep-nesting-in-description": '{"schema": "tokenproof-trace/1", "description": ' + "[" * 5000 + "]" * 5000 + "}",
    "long-string": json.dumps({**BASE, "description": "x" * 1_000_000, "steps": [{"actor": "y" * 100_000,
                                                                                   "rule": "fork", "args": {}}]}),
    "self-referencing-process": json.dumps({**BASE, "setup": {"processes": {"loop": {"token": "loop",
                                                                                     "threads": ["loop"]}}}}),
    "token-of-unknown-session": json.dumps({**BASE, "setup": {"tokens": {"t": {"user": "alice", "session": "t"}}}}),
    "duplicate-names": json.dumps({**BASE, "setup": {"processes": {"shell": {"token": "alice", "threads": ["z"]}}}}),
    "null-bytes": json.dumps({**BASE, "steps": [{"actor": "sh1\u0000", "rule": "fork", "args": {}}]}),
    "invalid-utf8": b'{"schema": "tokenproof-trace/1", "description": "\xff\xfe"}',
    "state-garbage": json.dumps({"schema": "tokenproof-trace/1", "state": {"threads": {"a": {"alive": "yes"}}}}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_trace_exits_2_with_a_clear_error(tmp_path, case):
    res = _cli_run(tmp_path, HOSTILE[case])
    assert res.exit_code == 2, (case, res.output[-500:])
    assert "error" in (res.output + (res.stderr if hasattr(res, "stderr") else "")).lower()
    assert "Traceback" not in res.output


def test_too_many_steps_is_bounded(tmp_path):
    from tokenproof.soundness import MAX_TRACE_STEPS

    steps = [{"actor": "sh1", "rule": "kacs_revert", "args": {}}] * (MAX_TRACE_STEPS + 1)
    res = _cli_run(tmp_path, json.dumps({**BASE, "steps": steps}))
    assert res.exit_code == 2 and "steps" in res.output


def test_huge_file_is_refused_before_parsing(tmp_path):
    p = tmp_path / "big.json"
    with p.open("w") as f:
        f.write('{"schema": "tokenproof-trace/1", "description": "')
        f.write("x" * (MAX_INPUT_BYTES + 10))
        f.write('"}')
    with pytest.raises(TraceError, match="too large"):
        load_trace(p)


def test_bounds_helper():
    check_json_text("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    with pytest.raises(InputTooLarge, match="nested"):
        check_json_text("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    # brackets inside strings do not count
    check_json_text(json.dumps({"a": "[" * 10_000}))
    with pytest.raises(InputTooLarge, match="too large"):
        check_json_text("x", max_bytes=0)


def test_parse_trace_of_non_dict_is_a_trace_error():
    for data in (None, 1, "x", [], [{"schema": "tokenproof-trace/1"}]):
        with pytest.raises(TraceError):
            parse_trace(data)


# ------------------------------------------------------------------ SD loaders (model/sddl.py)
sddl = pytest.importorskip("model.sddl")


@FUZZ
@given(st.one_of(JSONISH, st.text(string.printable, max_size=60),
                 st.builds(lambda a, b: f"O:{a}G:{b}D:(A;;{a};;;{b})", NAMES, NAMES)))
def test_sd_loaders_raise_only_spec_error(doc):
    for fn in (sddl.sd_from_json, sddl.sd_from_sddl):
        try:
            fn(doc, "sd")
        except SpecError as e:
            assert str(e)
