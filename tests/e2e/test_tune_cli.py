"""End-to-end tests for `embedrt tune`: a tiny grid on a tiny random-weight model."""
import json
import os
import re
import subprocess

import pytest

from conftest import CLI, TEST_DATA, assert_one_line_error, require

TINY = TEST_DATA / "tiny-models" / "tiny-mean"
SMALL_GRID = ["--threads-grid", "1", "--budgets-grid", "128,1024", "--batch-sizes-grid", "4,32",
              "--seconds-per-point", "0.02", "--texts", "64"]


def tune(*args, home, check=True):
    env = dict(os.environ, EMBEDRT_HOME=str(home))
    result = subprocess.run([CLI, "tune", *map(str, args)], capture_output=True, env=env,
                            timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"embedrt tune failed ({result.returncode}): "
                             f"{result.stderr.decode(errors='replace')}")
    return result


def table_rows(stdout: str):
    """The measured grid rows: index, threads, batch, tokens | batches, texts/s, ..."""
    rows = []
    for line in stdout.splitlines():
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+) \|\s+(\d+)\s+([\d.]+)\s+([\d,]+)\s+"
                     r"([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            rows.append(m.groups())
    return rows


def test_writes_the_default_tuning_file(tmp_path):
    require(TINY / "model.safetensors")
    result = tune("--model", TINY, *SMALL_GRID, home=tmp_path)
    out = result.stdout.decode()
    rows = table_rows(out)
    assert len(rows) == 4, out
    assert {(r[1], r[2], r[3]) for r in rows} == {
        ("1", "4", "128"), ("1", "32", "128"), ("1", "4", "1024"), ("1", "32", "1024")}
    for row in rows:
        assert float(row[5]) > 0 and float(row[7]) > 0, row

    path = tmp_path / "tuning" / "tiny-mean.json"
    assert f"wrote {path}" in out
    data = json.loads(path.read_text())
    assert data["format"] == 1
    assert data["model"] == "tiny-mean"
    assert data["cpu"] and data["cpu_count"] >= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["date"])
    assert data["precision"] == "fp32"
    settings = data["settings"]
    best = data["grid"][data["best"]]
    assert (settings["threads"], settings["batch_size"], settings["max_batch_tokens"]) == (
        best["threads"], best["batch_size"], best["max_batch_tokens"])
    assert data["measured"]["texts_per_second"] == best["texts_per_second"]
    assert len(data["grid"]) == 4
    assert max(p["texts_per_second"] for p in data["grid"]) <= best["texts_per_second"] / 0.98
    assert data["workload"]["texts"] == 64
    # The summary line names the same choice as the file.
    assert (f"threads {settings['threads']}, batch size {settings['batch_size']}, "
            f"token budget {settings['max_batch_tokens']}") in out


def test_tunes_for_the_given_input_and_writes_where_asked(tmp_path):
    require(TINY / "model.safetensors")
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"sentence number {i} with a few words\n" for i in range(40)))
    output = tmp_path / "out" / "tuned.json"
    result = tune("--model", TINY, "--input", texts, "--output", output, *SMALL_GRID,
                  home=tmp_path / "home")
    data = json.loads(output.read_text())
    assert data["workload"]["texts"] == 40
    assert str(texts) in data["workload"]["source"]
    assert not (tmp_path / "home" / "tuning").exists()
    assert f"wrote {output}" in result.stdout.decode()


def test_latency_target_limits_the_choice(tmp_path):
    require(TINY / "model.safetensors")
    # A target no batch can meet: the lowest-latency point is taken, and the output says so.
    result = tune("--model", TINY, *SMALL_GRID, "--target-latency-ms", "0.000001",
                  home=tmp_path)
    out = result.stdout.decode()
    assert "no point meets the 0.0 ms target" in out
    data = json.loads((tmp_path / "tuning" / "tiny-mean.json").read_text())
    best = data["grid"][data["best"]]
    assert best["p90_batch_ms"] == min(p["p90_batch_ms"] for p in data["grid"])
    assert data["target_latency_ms"] == pytest.approx(1e-6)


def test_bad_arguments_fail_cleanly(tmp_path):
    require(TINY / "model.safetensors")
    result = tune("--model", TINY, "--batch-sizes-grid", "0", home=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    result = tune("--model", TINY, "--seconds-per-point", "-1", home=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    result = tune("--model", tmp_path / "no-such-model", *SMALL_GRID, home=tmp_path, check=False)
    assert_one_line_error(result, "no-such-model")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = tune("--model", TINY, "--input", empty, *SMALL_GRID, home=tmp_path, check=False)
    assert_one_line_error(result, "no texts")
    # An output path that cannot be written is reported, not ignored.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = tune("--model", TINY, *SMALL_GRID, "--output", blocker / "sub" / "t.json",
                  home=tmp_path, check=False)
    assert_one_line_error(result, str(blocker))


def test_each_thread_count_is_measured_and_merged(tmp_path):
    require(TINY / "model.safetensors")
    grid = ["--threads-grid", "1,2", "--budgets-grid", "100000", "--batch-sizes-grid", "4,8",
            "--seconds-per-point", "0.02", "--texts", "16"]
    result = tune("--model", TINY, *grid, home=tmp_path)
    rows = table_rows(result.stdout.decode())
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("0", "1", "4"), ("1", "1", "8"), ("2", "2", "4"), ("3", "2", "8")]
    data = json.loads((tmp_path / "tuning" / "tiny-mean.json").read_text())
    assert [p["threads"] for p in data["grid"]] == [1, 1, 2, 2]
    assert data["grid"][data["best"]]["threads"] == data["settings"]["threads"]
    # No leftovers from the measuring processes.
    assert not list(tmp_path.glob("tuning/*.tmp"))
