"""Private inputs (`grade --private FILE`): held-out seeds and check visibility for the official grade."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REFERENCE, ROOT

from grader.checks.registry import all_checks
from grader.private import PUBLIC_NOTE, SEEDS, PrivateInputsError, load_private_inputs

SEED_CALL = re.compile(r"""ctx\.seed\(\s*["']([\w.]+)["']""")


def grade_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True, check=False, timeout=600)


def write(tmp_path: Path, text: str, name: str = "private.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_without_a_file_every_check_gets_its_public_default():
    public = load_private_inputs(None)
    assert public.source is None and public.note == PUBLIC_NOTE
    assert public.seed("4.held_out", 91) == 91


def test_the_file_sets_seeds_and_visibility(tmp_path):
    private = load_private_inputs(write(tmp_path, '[seeds]\n"4.held_out" = 5\n\n[visibility]\n"4.train_nll" = "after_due_date"\n'))
    assert private.seed("4.held_out", 91) == 5 and private.seed("4.train_data", 17) == 17
    assert private.note == "private inputs: private.toml" and "5" not in private.note
    checks = {c.id: c for c in private.apply(all_checks())}
    assert checks["4.train_nll"].visibility == "after_due_date" and checks["4.sample"].visibility == "visible"
    with pytest.raises(KeyError, match="known: 3.held_out_digits, 3.sampler"):
        private.seed("4.heldout", 1)


@pytest.mark.parametrize("text, message", [
    ('[seeds]\n"4.heldout" = 5\n', "unknown entries 4.heldout; known seeds: 3.held_out_digits"),
    ('[seed]\n"4.held_out" = 5\n', "unknown entries seed"),
    ('[seeds]\n"4.held_out" = -1\n', "non-negative integer"),
    ('[seeds]\n"4.held_out" = true\n', "non-negative integer"),
    ('[seeds]\n"4.held_out" = "5"\n', "non-negative integer"),
    ('[visibility]\n"4.nll" = "hidden"\n', "unknown check id(s) 4.nll"),
    ('[visibility]\n"4.train_nll" = "later"\n', "must be one of visible"),
    ("seeds = 3\n", "must be tables"),
    ("[seeds\n", "cannot read"),
])
def test_a_bad_file_is_one_clear_error(tmp_path, text, message):
    with pytest.raises(PrivateInputsError, match=re.escape(message)):
        load_private_inputs(write(tmp_path, text))


def test_every_seed_is_drawn_by_a_check_and_documented():
    drawn = {name for path in (ROOT / "grader" / "checks").glob("*.py") for name in SEED_CALL.findall(path.read_text())}
    assert drawn == set(SEEDS)
    docs = (ROOT / "docs" / "private_inputs.md").read_text()
    assert all(f"`{name}`" in docs for name in SEEDS)


def test_cli_refuses_a_bad_file_in_one_line_and_lists_the_new_visibility(tmp_path):
    bad = grade_cli(str(REFERENCE), "--out", str(tmp_path / "out"), "--private", str(write(tmp_path, '[seeds]\n"x" = 1\n')))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown entries x" in bad.stderr
    assert not (tmp_path / "out").exists()
    listed = grade_cli("--list", "--only", "4", "--private", str(write(tmp_path, '[visibility]\n"4.sample" = "hidden"\n', "v.toml")))
    assert re.search(r"4\.sample\s+4\s+2\s+hidden", listed.stdout), listed.stdout


def test_class_runs_take_the_private_file_and_say_so(tmp_path):
    class_dir = tmp_path / "class"
    shutil.copytree(REFERENCE, class_dir / "alice", ignore=shutil.ignore_patterns("figures", "__pycache__", "*.pt"))
    private = write(tmp_path, '[visibility]\n"1a.dtype" = "after_due_date"\n', "course.toml")
    done = grade_cli(str(class_dir), "--class", "--out", str(tmp_path / "out"), "--check", "1a.dtype", "--quiet", "--private", str(private))
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "out" / "alice" / "results.json").read_text())
    assert "private inputs: course.toml" in results["output"] and results["tests"][0]["visibility"] == "after_due_date"
    assert "private inputs: course.toml" in (tmp_path / "out" / "alice" / "report.md").read_text()


@pytest.mark.slow
def test_a_private_sampler_seed_changes_the_measurement_not_the_verdict(tmp_path):
    """3.checkpoint draws its Langevin noise from `3.sampler`: another seed, other samples, the same full marks."""
    runs = {}
    for label, extra in (("public", ()), ("private", ("--private", str(write(tmp_path, '[seeds]\n"3.sampler" = 777\n'))))):
        done = grade_cli(str(REFERENCE), "--out", str(tmp_path / label), "--check", "3.checkpoint", "--quiet", "--time-scale", "3", *extra)
        assert done.returncode == 0, done.stderr
        runs[label] = json.loads((tmp_path / label / "results.json").read_text())
    assert PUBLIC_NOTE in runs["public"]["output"] and "private inputs: private.toml" in runs["private"]["output"]
    confidence = {k: re.search(r"mean classifier confidence ([\d.]+)", r["tests"][0]["output"])[1] for k, r in runs.items()}
    assert confidence["public"] != confidence["private"]
    assert all(r["score"] == 10 for r in runs.values())


def _spellings(points) -> set[str]:
    """Ways a report could print a coordinate: repr, str of float32 and float64, 4 to 8 decimals."""
    import numpy as np

    out = set()
    for value in np.asarray(points, dtype=np.float64).ravel():
        out |= {repr(float(value)), repr(float(np.float32(value))), str(np.float32(value))}
        out |= {f"{value:.{k}f}" for k in range(4, 9)}
    return {s for s in out if len(s.lstrip("-")) >= 6}  # "0.0000"-like short strings would match by chance


@pytest.mark.slow
def test_no_hidden_value_reaches_visible_feedback(tmp_path):
    """A submission whose every error echoes its inputs (and the private training data it keeps), graded with private
    seeds: results.json, report.md and the job summary carry none of the held-out or training points."""
    from helpers import CORPUS, patched_submission

    from grader.checks import p4
    from grader.checks.registry import select
    from grader.ci.github import job_summary
    from grader.engine import grade_submission
    from grader.oracles.moons import sample_moons
    from grader.options import GradingOptions
    from grader.report import write_reports
    from grader.runner.sandbox import Limits

    seeds = {"4.held_out": 123_457, "4.train_data": 765_431}
    private = load_private_inputs(write(tmp_path, "[seeds]\n" + "".join(f'"{k}" = {v}\n' for k, v in seeds.items())))
    folder = patched_submission(tmp_path / "sub", "p4_realnvp", CORPUS / "hostile" / "p4_echoes_inputs.py")
    options = GradingOptions(limits=Limits(memory_mb=2048, time_scale=3.0), progress=False, private=private)
    run = grade_submission(folder, tmp_path / "out", select({4}), options)
    write_reports(run, tmp_path / "out")
    hidden = (sample_moons(p4.N_HELD_OUT, p4.NOISE, seed=seeds["4.held_out"])[:40],
              sample_moons(p4.N_TRAIN, p4.NOISE, seed=seeds["4.train_data"])[:40])
    texts = {"results.json": (tmp_path / "out" / "results.json").read_text(), "report.md": (tmp_path / "out" / "report.md").read_text(),
             "job summary": job_summary(tmp_path / "out")}
    results = {r.id: r for r in run.results}
    assert "details withheld" in results["4.train_nll"].output, results["4.train_nll"].output  # the leak was tried
    for points in hidden:
        for spelling in _spellings(points):
            for name, text in texts.items():
                assert spelling not in text, (name, spelling)
    for check_id in ("4.train_nll", "4.model_logprob", "4.samples_quality"):  # the calls on hidden inputs or the hidden-data model
        assert "Leak_" not in results[check_id].output and "p4_realnvp.py:" not in results[check_id].output, results[check_id].output
    for seed in seeds.values():
        assert all(str(seed) not in text for text in texts.values())
