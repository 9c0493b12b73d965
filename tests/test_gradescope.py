"""The Gradescope autograder zip, unpacked into a simulated /autograder and run as Gradescope runs it.

Gradescope unzips into /autograder/source, copies run_autograder to /autograder and puts the
submission in /autograder/submission; here that tree lives in a temporary folder
(AUTOGRADER_ROOT), and the Python is a virtual environment made from the system's Python as
setup.sh makes it (tests/deploy.py): outside /root, so the children run without the capability
that would hide a permission fault.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest
from deploy import deployed_environment
from helpers import CORPUS, patched_submission

SCHEMA = json.loads((Path(__file__).with_name("gradescope_results.schema.json")).read_text())
P1 = "p1_change_of_variables"
CHECKS = "--check 1a.instance,1a.random,1a.dtype,1a.normalised,2a.written --time-scale 3"
PRIVATE = '[seeds]\n"4.held_out" = 424242\n\n[visibility]\n"1a.random" = "after_due_date"\n'


def grade_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("zip")
    private = folder / "course-private.toml"
    private.write_text(PRIVATE)
    done = grade_cli("gradescope-zip", "--out", str(folder / "autograder.zip"), "--private", str(private))
    assert done.returncode == 0, done.stderr
    return folder / "autograder.zip", private


@pytest.fixture
def autograder_root():
    """An empty folder for the /autograder tree, outside pytest's tmp tree: pytest links
    `*current` to its folders, and Landlock's readable roots follow such links (see the report)."""
    folder = Path(tempfile.mkdtemp(prefix="ps4-gradescope-test-"))
    yield folder / "autograder"
    shutil.rmtree(folder, ignore_errors=True)


def gradescope_layout(root: Path, archive: Path, submission: Path) -> Path:
    """/autograder as Gradescope builds it, with `submission`'s files in submission/."""
    with zipfile.ZipFile(archive) as z:
        z.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        (root / "source" / name).chmod(0o755)  # extractall drops the modes the zip records (checked below)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    shutil.copytree(submission, root / "submission")
    return root


def run_autograder(root: Path, grade_args: str = CHECKS) -> dict:
    python = deployed_environment() / "bin" / "python"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": str(python),
           "GRADE_ARGS": grade_args}
    done = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_the_zip_holds_the_scripts_the_grader_its_assets_and_the_private_file(autograder_zip):
    archive, private = autograder_zip
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        assert z.read("assets/private_inputs.toml") == private.read_bytes()
        assert z.read("torch-requirement.txt").decode().strip() == f"torch=={metadata.version('torch').split('+')[0]}"
        requirements = z.read("requirements.txt").decode().split()
    assert {"setup.sh", "run_autograder", "grader/cli.py", "grader/runner/worker.py", "grader/ci/autograder.py",
            "assets/mnist_subset.npz", "assets/mnist_classifier.pt", "assets/instance.toml"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert not any("__pycache__" in n or n.endswith(".pyc") or n.startswith(("reference/", "tests/")) for n in names)
    assert any(r.startswith("torchdiffeq") for r in requirements) and not any(r.split(">")[0].split("=")[0] == "torch" for r in requirements)
    for script in ("setup.sh", "run_autograder"):
        with zipfile.ZipFile(archive) as z:
            assert subprocess.run(["bash", "-n"], input=z.read(script), capture_output=True, check=False).returncode == 0


def test_a_bad_private_file_is_refused_when_building(tmp_path):
    bad = tmp_path / "private.toml"
    bad.write_text('[seeds]\n"4.heldout" = 1\n')
    done = grade_cli("gradescope-zip", "--out", str(tmp_path / "a.zip"), "--private", str(bad))
    assert done.returncode == 2 and "4.heldout" in done.stderr and "4.held_out" in done.stderr
    assert not (tmp_path / "a.zip").exists()


@pytest.mark.slow
def test_run_autograder_scores_equal_grades_with_the_private_inputs(tmp_path, autograder_zip, autograder_root):
    archive, private = autograder_zip
    broken = patched_submission(tmp_path / "hw4", P1, CORPUS / "p1a" / "signed_det.py", also=("answers.md",))
    zipped_folder = tmp_path / "upload"  # a student who uploads a zip of their folder: one subfolder
    shutil.copytree(broken, zipped_folder / "hw4")
    root = gradescope_layout(autograder_root, archive, zipped_folder)

    results = run_autograder(root)
    jsonschema.validate(results, SCHEMA)
    done = grade_cli(str(broken), "--out", str(tmp_path / "grade-out"), "--private", str(private), "--quiet", *CHECKS.split())
    assert done.returncode == 0, done.stderr
    expected = json.loads((tmp_path / "grade-out" / "results.json").read_text())

    def scores(r: dict) -> list[tuple]:  # pending: none of the three; the rubric's test (Gradescope only) aside
        return [(t["name"], t.get("score"), t.get("max_score"), t.get("status"), t["visibility"]) for t in r["tests"]
                if "rubric_of" not in t["extra_data"]]

    assert scores(results) == scores(expected) and results["score"] == expected["score"]
    rubric = [t for t in results["tests"] if "rubric_of" in t["extra_data"]]  # shown to students after the due date only
    assert [(t["extra_data"]["rubric_of"], t["visibility"], "score" in t) for t in rubric] == [("2a.written", "after_due_date", False)]
    assert "regularity assumption" in rubric[0]["output"]
    assert not any("regularity assumption" in t["output"] for t in results["tests"] if t["visibility"] != "after_due_date")
    assert 0 < results["score"] < 5  # signed_det: right on the instance, wrong where det A < 0
    visibility = {t["extra_data"]["check_id"]: t["visibility"] for t in results["tests"] if "check_id" in t["extra_data"]}
    assert visibility == {"1a.instance": "visible", "1a.random": "after_due_date", "1a.dtype": "visible",
                          "1a.normalised": "visible", "2a.written": "visible"}
    assert results["stdout_visibility"] == "hidden"
    assert "private inputs: private_inputs.toml" in results["output"]
    assert "424242" not in json.dumps(results)  # the seed itself is never shown


def test_student_code_cannot_read_the_bundled_private_file(tmp_path, autograder_zip, autograder_root):
    archive, _ = autograder_zip
    root = autograder_root
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / f"{P1}.py").write_text(
        "def density_linear(y, A, mu=None):\n"
        "    found = []\n"
        f"    for path in ({str(root / 'source' / 'assets' / 'private_inputs.toml')!r}, {str(root / 'source' / 'setup.sh')!r}, __file__):\n"
        "        try:\n"
        "            open(path).read()\n"
        "            found.append('READ')\n"
        "        except OSError as error:\n"
        "            found.append(type(error).__name__)\n"
        "    raise RuntimeError(' '.join(found))\n")
    gradescope_layout(root, archive, probe)
    results = run_autograder(root, "--check 1a.dtype --time-scale 3")
    (test,) = results["tests"]
    # the private file and the rest of the grader's source are hidden (reads are an allowlist); the child's own copy is not
    assert "RuntimeError: PermissionError PermissionError READ" in test["output"]


def test_a_submission_without_the_expected_files_still_gets_a_results_json(tmp_path, autograder_zip, autograder_root):
    archive, _ = autograder_zip
    empty = tmp_path / "upload"
    empty.mkdir()
    (empty / "homework.pdf").write_bytes(b"%PDF-1.4")
    results = run_autograder(gradescope_layout(autograder_root, archive, empty))
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0 and results["tests"] == []
    assert "holds none of the expected files" in results["output"] and "p1_change_of_variables.py" in results["output"]


def test_the_schema_refuses_what_gradescope_does_not_accept():
    good = {"score": 1.0, "stdout_visibility": "hidden", "tests": [{"name": "a", "score": 1, "max_score": 1, "visibility": "after_due_date"}]}
    jsonschema.validate(good, SCHEMA)
    for bad in ({**good, "stdout_visibility": "students"}, {**good, "tests": [{"name": "a", "status": "pending"}]},
                {**good, "tests": [{"name": "a", "number": 1}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)


def test_an_upload_of_a_zip_is_unpacked_and_graded_like_its_folder(tmp_path, autograder_zip, autograder_root):
    archive, _ = autograder_zip
    work = patched_submission(tmp_path / "hw4", P1, CORPUS / "p1a" / "signed_det.py")
    upload = tmp_path / "upload"
    upload.mkdir()
    with zipfile.ZipFile(upload / "my-homework.zip", "w") as z:  # a repository zipped: the work one level down
        z.write(work / f"{P1}.py", f"ps4-repo/hw4/{P1}.py")
        z.writestr("ps4-repo/README.md", "# homework")
    results = run_autograder(gradescope_layout(autograder_root, archive, upload))
    assert 0 < results["score"] < 5  # signed_det's score, as in the folder's grade above
    assert results["output"].startswith("unpacked my-homework.zip") and "graded the files in my-homework/ps4-repo/hw4/" in results["output"]
