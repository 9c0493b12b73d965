"""Contract tests over the registry: rubric integrity, determinism, results that survive JSON."""
from __future__ import annotations

import json

from grader.checks.registry import VISIBILITIES, all_checks
from grader.instance import INSTANCE
from grader.results import GradingRun
from helpers import REFERENCE, TEMPLATE, grade


def test_every_check_is_well_formed():
    checks = all_checks()
    assert len({c.id for c in checks}) == len(checks)
    for c in checks:
        assert c.id.startswith(c.part + "."), c.id
        assert c.points > 0 and c.visibility in VISIBILITIES and c.timeout_s > 0
        assert c.part[0] in "1234"


def test_rubric_points_add_up_to_the_problem_totals():
    checks = all_checks()
    for problem, total in INSTANCE.points.items():
        assert sum(c.points for c in checks if c.problem == problem) == total, problem


def test_grading_is_deterministic_and_results_survive_json(tmp_path):
    ids = {c.id for c in all_checks() if c.problem == 1}
    first = grade(REFERENCE, tmp_path / "a", ids=ids)
    second = grade(REFERENCE, tmp_path / "b", ids=ids)
    assert [(r.id, r.score, r.output) for r in first.results] == [(r.id, r.score, r.output) for r in second.results]
    assert GradingRun.from_dict(json.loads(json.dumps(first.to_dict()))) == first


def test_template_scores_zero_everywhere_it_runs_code(tmp_path):
    ids = {c.id for c in all_checks() if c.module is not None and c.problem == 1}
    run = grade(TEMPLATE, tmp_path, ids=ids)
    assert run.score == 0 and all(r.status == "failed" for r in run.results)
