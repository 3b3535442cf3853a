"""The trace format: argument parsing, error messages, state dumps."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import domain as D
from model.reclaim import collect_garbage
from model.rules.registry import RULES, Arg
from model.scenarios import standard
from model.sim import ModelPreconditionError, apply_rule
from model.state import BOOL, HANDLE, IL, LEVEL, MASK, PRIVS, SID, TOKEN, THREAD, GROUPS, BVT
from model.world import SpecError
from tokenproof.statefile import dump_world, exact_equal, load_world
from tokenproof.trace import (
    TraceError,
    dump_trace,
    execute,
    load_trace,
    make_trace,
    parse_arg,
    parse_trace,
    step_entry,
)


# ------------------------------------------------------------------ argument kinds
@pytest.fixture(scope="module")
def w():
    return standard()


def test_objects_by_name_and_by_number(w):
    assert parse_arg(Arg("t", TOKEN), "alice", w) == w.names["Token"]["alice"]
    assert parse_arg(Arg("t", TOKEN), "token#42", w) == 42
    assert parse_arg(Arg("x", THREAD), "sh2", w) == w.names["Thread"]["sh2"]
    with pytest.raises(SpecError, match="no token named 'carol'.*alice"):
        parse_arg(Arg("t", TOKEN), "carol", w)
    with pytest.raises(SpecError, match="expected a token name"):
        parse_arg(Arg("t", TOKEN), 3, w)


def test_handles_are_fd_numbers(w):
    assert parse_arg(Arg("fd", HANDLE), 4, w) == 4
    for bad in ("x", -1, True, 1.5):
        with pytest.raises(SpecError, match="fd number"):
            parse_arg(Arg("fd", HANDLE), bad, w)


def test_sids(w):
    a = Arg("s", SID)
    assert parse_arg(a, "SYSTEM", w) == D.SID_SYSTEM
    assert parse_arg(a, "alice", w) == "S-1-5-21-1-1-1-1001"
    assert parse_arg(a, "S-1-5-21-9-9", w) == "S-1-5-21-9-9"
    assert parse_arg(a, "S-1-x-3", w) == D.MALFORMED_SID  # malformed input is modelled, not an error
    assert parse_arg(a, "S-2-5", w) == D.MALFORMED_SID
    with pytest.raises(SpecError, match="unknown SID name 'Admins'.*Administrators"):
        parse_arg(a, "Admins", w)


def test_bools(w):
    assert parse_arg(Arg("b", BOOL), True, w) is True
    with pytest.raises(SpecError, match="true or false"):
        parse_arg(Arg("b", BOOL), 1, w)


def test_bit_vectors_by_fmt(w):
    rights = Arg("m", MASK, fmt="rights")
    q_i = int(D.TOKEN_QUERY | D.TOKEN_IMPERSONATE)
    assert parse_arg(rights, ["TOKEN_QUERY", "TOKEN_IMPERSONATE"], w) == q_i
    assert parse_arg(rights, "TOKEN_QUERY|TOKEN_IMPERSONATE", w) == q_i
    assert parse_arg(rights, 12, w) == 12
    assert parse_arg(rights, ["TOKEN_QUERY", "0x40"], w) == 0x48
    with pytest.raises(SpecError, match="unknown access right 'TOKEN_READ'"):
        parse_arg(rights, ["TOKEN_READ"], w)
    privs = Arg("p", PRIVS, fmt="privileges")
    assert parse_arg(privs, ["SeTcbPrivilege", "SeDebugPrivilege"], w) == int(D.SE_TCB | D.priv("SeDebugPrivilege"))
    assert parse_arg(privs, [], w) == 0
    with pytest.raises(SpecError, match="unknown privilege"):
        parse_arg(privs, ["SeFlyPrivilege"], w)
    assert parse_arg(Arg("l", LEVEL, fmt="level"), "Impersonation", w) == 2
    with pytest.raises(SpecError, match="impersonation level"):
        parse_arg(Arg("l", LEVEL, fmt="level"), "High", w)
    assert parse_arg(Arg("i", IL, fmt="integrity"), "Low", w) == 4096
    assert parse_arg(Arg("i", IL), "High", w) == 12288  # a name for an integrity-width number
    assert parse_arg(Arg("g", GROUPS, fmt="slots"), [0, 3], w) == 0b1001
    with pytest.raises(SpecError, match="slot indices 0..7"):
        parse_arg(Arg("g", GROUPS, fmt="slots"), [8], w)
    assert parse_arg(Arg("n", BVT(8)), 7, w) == 7
    assert parse_arg(Arg("n", BVT(8)), "0x1f", w) == 31
    with pytest.raises(SpecError, match="does not fit in 8 bits"):
        parse_arg(Arg("n", BVT(8)), 256, w)
    with pytest.raises(SpecError, match="expected a number"):
        parse_arg(Arg("n", BVT(8)), "many", w)
    v = parse_arg(Arg("n", BVT(4)), 3, w)
    assert getattr(v, "width", None) == 4  # a width-carrying BV, so ~x stays in range


# ------------------------------------------------------------------ error messages
def write(tmp_path, data, name="t.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data, indent=2) if not isinstance(data, str) else data)
    return p


def trace(steps, **kw):
    return {"schema": "tokenproof-trace/1", "scenario": "standard", "steps": steps, **kw}


def error_of(path) -> str:
    with pytest.raises(TraceError) as e:
        load_trace(path)
    msg = str(e.value)
    assert "Traceback" not in msg
    return msg


def test_json_syntax_error_has_line_and_column(tmp_path):
    p = write(tmp_path, '{\n  "schema": "tokenproof-trace/1",\n  "steps": [,]\n}')
    msg = error_of(p)
    assert msg.startswith(f"{p}:3:") and "not valid JSON" in msg


def test_bad_schema_version(tmp_path):
    msg = error_of(write(tmp_path, {"schema": "tokenproof-trace/9", "steps": []}))
    assert "t.json:2:" in msg and "bad schema version" in msg and "tokenproof-trace/1" in msg


def test_unknown_rule_suggests_close_matches(tmp_path):
    p = write(tmp_path, trace([{"actor": "sh1", "rule": "fork", "args": {}},
                               {"actor": "sh1", "rule": "forkk", "args": {}}]))
    msg = error_of(p)
    assert "step 1" in msg and "unknown rule 'forkk'" in msg and "did you mean fork" in msg
    line = next(i for i, l in enumerate(p.read_text().splitlines(), 1) if '"forkk"' in l)
    assert msg.startswith(f"{p}:{line}:")


def test_unknown_argument_lists_the_rules_arguments(tmp_path):
    p = write(tmp_path, trace([{"actor": "sh1", "rule": "close_handle", "args": {"handle": 3}}]))
    msg = error_of(p)
    assert "step 0 (close_handle by sh1)" in msg and "no argument 'handle'" in msg and "fd: an fd number" in msg
    line = next(i for i, l in enumerate(p.read_text().splitlines(), 1) if '"handle"' in l)
    assert msg.startswith(f"{p}:{line}:")


def test_missing_argument(tmp_path):
    msg = error_of(write(tmp_path, trace([{"actor": "sh1", "rule": "close_handle", "args": {}}])))
    assert "step 0 (close_handle by sh1)" in msg and "missing argument 'fd'" in msg


def test_wrong_type(tmp_path):
    msg = error_of(write(tmp_path, trace([{"actor": "sh1", "rule": "exec",
                                            "args": {"file_labelled": "yes", "file_level": 0}}])))
    assert "argument 'file_labelled'" in msg and "expected true or false" in msg and "step 0 (exec by sh1)" in msg


@pytest.mark.skipif("kacs_create_token" not in RULES, reason="kacs_create_token not written yet")
def test_unknown_sid_name(tmp_path):
    args = {a.name: 0 for a in RULES["kacs_create_token"].args if not a.fresh}
    args["user"] = "mallory"
    msg = error_of(write(tmp_path, trace([{"actor": "init", "rule": "kacs_create_token", "args": args}])))
    assert "argument 'user'" in msg and "unknown SID name 'mallory'" in msg


def test_thread_that_does_not_exist(tmp_path):
    msg = error_of(write(tmp_path, trace([{"actor": "sh9", "rule": "fork", "args": {}}])))
    assert "step 0 (fork by sh9)" in msg and "no thread named 'sh9'" in msg and "sh1" in msg


def test_threads_named_by_an_earlier_step_are_known(tmp_path):
    p = write(tmp_path, trace([{"actor": "sh1", "rule": "fork", "args": {"child": "kid", "child_thread": "k1"}},
                               {"actor": "k1", "rule": "clone_thread", "args": {"new_thread": "k2"}},
                               {"actor": "k2", "rule": "thread_exit", "args": {}}]))
    res = execute(load_trace(p))
    assert [s.errno_name for s in res.steps] == ["OK", "OK", "OK"]
    k1 = res.world.names["Thread"]["k1"]
    assert res.world.state.value("thread_proc", k1) == res.world.names["Process"]["kid"]
    assert not res.world.state.value("thread_alive", res.world.names["Thread"]["k2"])


def test_unknown_scenario(tmp_path):
    msg = error_of(write(tmp_path, {"schema": "tokenproof-trace/1", "scenario": "moon", "steps": []}))
    assert "unknown scenario 'moon'" in msg and "standard" in msg


def test_unknown_top_level_key(tmp_path):
    msg = error_of(write(tmp_path, {"schema": "tokenproof-trace/1", "stepz": []}))
    assert "unknown key 'stepz'" in msg and "steps" in msg


def test_kernel_actor_rules(tmp_path):
    msg = error_of(write(tmp_path, trace([{"actor": "sh1", "rule": "kernel_free_token", "args": {"token": "alice"}}])))
    assert 'actor must be "kernel"' in msg
    msg = error_of(write(tmp_path, trace([{"actor": "kernel", "rule": "fork", "args": {}}])))
    assert "thread name" in msg


def test_bad_setup_token_spec_names_the_place(tmp_path):
    msg = error_of(write(tmp_path, trace([], setup={"tokens": {"carol": {"user": "carol"}}})))
    assert "setup.tokens.carol" in msg and "carol" in msg


def test_setup_builds_objects(tmp_path):
    data = trace([{"actor": "c1", "rule": "close_handle", "args": {"fd": 5}, "expect": {"errno": "OK"}},
                  {"actor": "c1", "rule": "close_handle", "args": {"fd": 5}, "expect": {"errno": "EBADF"}}],
                 sids={"carol": "S-1-5-21-1-1-1-1003"},
                 setup={"sessions": ["carol-session"],
                        "tokens": {"carol": {"user": "carol", "session": "carol-session"}},
                        "processes": {"carolsh": {"token": "carol", "threads": ["c1"]}},
                        "fds": [{"process": "carolsh", "token": "carol", "rights": ["TOKEN_QUERY"], "fd": 5}],
                        "sockets": {"sock": {"server": "server"}}})
    res = execute(load_trace(write(tmp_path, data)))
    assert res.ok
    assert res.world.state.value("token_user", res.world.names["Token"]["carol"]) == "S-1-5-21-1-1-1-1003"
    assert res.world.names["Socket"]["sock"] >= 1


def test_expectations_are_checked(tmp_path):
    res = execute(load_trace(write(tmp_path, trace([
        {"actor": "sh1", "rule": "close_handle", "args": {"fd": 3}, "expect": {"errno": "OK"}}]))))
    assert not res.ok and res.steps[0].failures == ["expected OK, got EBADF"]


def test_impossible_step_names_the_step(tmp_path):
    from tokenproof.trace import StepImpossible

    p = write(tmp_path, trace([{"actor": "sh1", "rule": "kacs_revert", "args": {}},
                               {"actor": "bob1", "rule": "thread_exit", "args": {}}]))
    with pytest.raises(StepImpossible) as e:
        execute(load_trace(p))
    assert "step 1 (thread_exit by bob1) is not possible" in str(e.value)
    assert len(e.value.partial.steps) == 1


# ------------------------------------------------------------------ state dumps
def roundtrip(world):
    text = json.dumps(dump_world(world))
    return load_world(json.loads(text))


def test_state_dump_round_trips_the_standard_world():
    w = standard()
    w2 = roundtrip(w)
    assert exact_equal(w.state, w2.state)
    assert w2.names == w.names and w2.sid_aliases == w.sid_aliases


def test_state_dump_is_readable():
    d = dump_world(standard())
    alice = d["tokens"]["alice"]
    assert alice["user"] == "S-1-5-21-1-1-1-1001" and alice["integrity"] == "Medium"
    assert alice["privs_enabled"] == ["SeChangeNotifyPrivilege"] and alice["session"] == "alice-session"
    assert alice["sd_ace0_mask"] == ["TOKEN_ADJUST_PRIVILEGES", "TOKEN_ADJUST_GROUPS", "TOKEN_ADJUST_DEFAULT",
                                     "TOKEN_QUERY"] or set(alice["sd_ace0_mask"]) == {
        "TOKEN_ADJUST_PRIVILEGES", "TOKEN_ADJUST_GROUPS", "TOKEN_ADJUST_DEFAULT", "TOKEN_QUERY"}
    assert d["threads"]["sh1"]["proc"] == "shell" and d["globals"]["anon_token"] == "anonymous"
    assert d["processes"]["shell"]["sd_ace3_mask"] == ["PROCESS_QUERY_LIMITED"]


def test_state_dump_detects_a_changed_field():
    w = standard()
    d = dump_world(w)
    d["tokens"]["alice"]["privs_enabled"].append("SeTcbPrivilege")
    assert not exact_equal(w.state, load_world(d).state)


def test_state_load_errors_name_the_field():
    d = dump_world(standard())
    d["tokens"]["alice"]["integrity"] = "Sky"
    with pytest.raises(SpecError, match=r"state.tokens.alice.integrity: expected an integrity level"):
        load_world(d)
    d = dump_world(standard())
    d["tokens"]["alice"]["colour"] = 1
    with pytest.raises(SpecError, match="unknown field 'colour'"):
        load_world(d)


RANDOM_RULES = ["fork", "clone_thread", "thread_exit", "close_handle", "exec", "kacs_revert", "socket_create",
                "socket_connect", "kacs_impersonate_peer", "kacs_open_self_token", "ioctl_duplicate",
                "ioctl_impersonate", "set_cloexec", "process_exit"]


def random_walk(seed: int, n: int):
    rng = random.Random(seed)
    w = standard()
    rules = [RULES[r] for r in RANDOM_RULES if r in RULES]
    done = 0
    for _ in range(n * 20):
        if done >= n:
            break
        threads = w.state.alive("Thread")
        if not threads:
            break
        actor, rule = rng.choice(threads), rng.choice(rules)
        args = {}
        for a in rule.args:
            if a.fresh:
                continue
            t = a.type
            if t.kind == "bool":
                args[a.name] = rng.random() < 0.5
            elif t.kind == "obj" and t.sort == "Handle":
                args[a.name] = rng.choice([3, 4, 5])
            elif t.kind == "obj":
                args[a.name] = rng.choice(w.state.universe[t.sort] or (1,))
            elif t.kind == "sid":
                args[a.name] = rng.choice(list(D.SID_ALIASES.values()) + [D.MALFORMED_SID])
            else:
                args[a.name] = D.BV(rng.randrange(1 << min(t.width, 16)) if a.fmt != "rights"
                                    else rng.choice([int(D.TOKEN_QUERY), int(D.MAXIMUM_ALLOWED), 0x0F]), t.width)
        try:
            out = apply_rule(w.state, rule, actor, args)
        except ModelPreconditionError:
            continue
        w.state = out.post
        if rng.random() < 0.7:
            w.state, _ = collect_garbage(w.state)
        done += 1
    return w, done


@given(st.integers(min_value=0, max_value=10_000))
def test_state_dump_round_trips_after_random_steps(seed):
    w, done = random_walk(seed, 6)
    w2 = roundtrip(w)
    assert exact_equal(w.state, w2.state)
    assert w2.state == w.state  # and the model's own equality


def test_random_walks_do_move():
    _, done = random_walk(1, 6)
    assert done == 6


def test_exact_equal_sees_data_outside_the_universe():
    w = standard()
    w2 = roundtrip(w)
    w2.state._data["token_alive"] = {**w2.state._data["token_alive"], 99: True}
    assert w2.state == w.state  # invisible to the snapshot...
    assert not exact_equal(w.state, w2.state)  # ...but not to the dump
    assert exact_equal(roundtrip(w2).state, w2.state)


# ------------------------------------------------------------------ writing traces
def test_dump_trace_with_explicit_state_and_steps_replays(tmp_path):
    w = standard()
    sh1 = w.names["Thread"]["sh1"]
    steps = [step_entry(w, "fork", sh1, {"child": 9, "child_thread": 11, "child_token": 12}, errno=0),
             step_entry(w, "kernel_free_token", None, {"token": 12})]
    data = make_trace(steps, description="written", world=w, auto_gc=False)
    p = tmp_path / "cex.json"
    dump_trace(data, p)
    t = load_trace(p)
    assert t.state is not None and t.auto_gc is False
    from tokenproof.trace import StepImpossible

    with pytest.raises(StepImpossible, match="step 1 \\(kernel_free_token by kernel\\)"):
        execute(t)  # token#12 is process#9's primary: the kernel may not free it
    steps[1] = step_entry(w, "kacs_revert", 11, {}, errno=0)
    t = parse_trace(json.loads(dump_trace(make_trace(steps, world=w, auto_gc=False))))
    res = execute(t)
    assert res.ok and res.steps[0].args["child"] == 9 and res.steps[0].args["child_token"] == 12


def test_step_entry_round_trips_typed_args():
    w = standard()
    args = {"real": True, "access_mask": int(D.TOKEN_QUERY | D.READ_CONTROL), "fd": 7}
    if "kacs_open_self_token" not in RULES:
        pytest.skip("kacs_open_self_token not written yet")
    e = step_entry(w, "kacs_open_self_token", w.names["Thread"]["sh1"], args)
    t = parse_trace(make_trace([e]))
    res = execute(t)
    assert res.steps[0].args == {"real": True, "access_mask": args["access_mask"], "fd": 7}
