"""--jobs (worker processes), --shard (deterministic split) and determinism of the results."""

from __future__ import annotations

import json
import zlib

import pytest
from click.testing import CliRunner

from tokenproof.catalog_run import RunOptions, apply_shard, load_catalog, parse_shard, run, shard_of

PAIR = ["fork-yields-a-distinct-token", "exec-leaves-no-impersonation"]


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) is None
    for bad in ("0/2", "3/2", "x/2", "1", "1/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_shards_partition_the_catalog_stably():
    ids = sorted(load_catalog())
    for n in (1, 2, 3, 5):
        parts = [apply_shard(ids, (i, n)) for i in range(1, n + 1)]
        assert sorted(sum(parts, [])) == ids  # every property in exactly one shard
        assert all(parts)  # and no shard is empty on the full catalog
    # a stable hash: the same in every process, independent of the other ids
    assert shard_of("fork-yields-a-distinct-token", 4) == zlib.crc32(b"fork-yields-a-distinct-token") % 4 + 1
    assert apply_shard(ids[:5], (1, 2)) == [p for p in ids[:5] if p in apply_shard(ids, (1, 2))]


def test_jobs_give_the_same_records_as_one_process(tmp_path):
    par = run(RunOptions(ids=PAIR, timeout_ms=5000, out_dir=None, cache_dir=str(tmp_path / "a"), jobs=2))
    seq = run(RunOptions(ids=list(reversed(PAIR)), timeout_ms=5000, out_dir=None, cache_dir=str(tmp_path / "b")))
    assert [r.id for r in par.records] == sorted(PAIR)
    assert [r.comparable() for r in par.records] == [r.comparable() for r in seq.records]
    assert par.cache.properties.misses == 2 and par.cache.obligations.misses > 0  # merged from the workers
    warm = run(RunOptions(ids=PAIR, timeout_ms=5000, out_dir=None, cache_dir=str(tmp_path / "a"), jobs=2))
    assert warm.cache.properties.hits == 2 and all(r.cached for r in warm.records)


def test_shard_reports_merge_into_the_whole(tmp_path):
    from tokenproof.commands import merge, prove

    ids = sorted(PAIR + ["dead-sessions-never-revive"])
    common = [a for p in ids for a in ("--property", p)] + ["--timeout", "5000", "--cache-dir", str(tmp_path / "c"),
                                                           "--out", str(tmp_path / "cex"), "--format", "json"]
    files = []
    for i in (1, 2):
        out = tmp_path / f"shard{i}.json"
        res = CliRunner().invoke(prove.command, [*common, "--shard", f"{i}/2", "--output", str(out)])
        assert res.exit_code == 0, res.output
        files.append(str(out))
    shard_ids = [[r["id"] for r in json.loads(open(f).read())["results"]] for f in files]
    assert sorted(sum(shard_ids, [])) == ids
    res = CliRunner().invoke(merge.command, [*files, "--format", "json", "--no-timings"])
    assert res.exit_code == 0, res.output
    merged = json.loads(res.output)
    assert [r["id"] for r in merged["results"]] == ids and merged["shards"] == [[1, 2], [2, 2]]
    # the whole run, warm, gives the same report (timings aside)
    res = CliRunner().invoke(prove.command, [*[a for a in common if a != "json"][:-1], "--format", "json",
                                             "--no-timings"])
    whole = json.loads(res.output)
    whole["shards"] = merged["shards"]
    assert whole == merged
