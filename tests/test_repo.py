"""Promises of the repository itself: one requirements list, a three-command quick start that
CI runs, a book that lists every chapter, and README numbers that come from the notebooks."""

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def requirement_lines(path):
    lines = (ROOT / path).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_requirements_use_compatible_ranges():
    for line in requirement_lines("requirements.txt"):
        if line.startswith("-e"):
            continue
        assert "~=" in line and "==" not in line, f"pin {line!r} with ~=, never =="
    names = {re.split("[~=<>]", line)[0].lower() for line in requirement_lines("requirements.txt")}
    for needed in ("tensorflow", "keras", "hyperopt", "jupyterlab", "nbval", "jupytext",
                   "papermill", "matplotlib", "jupyter-book", "ai-edge-litert", "scikit-learn",
                   "tqdm"):
        assert needed in names, f"{needed} missing from requirements.txt"
    assert "-e ." in requirement_lines("requirements.txt")


def test_binder_installs_the_root_requirements():
    assert requirement_lines("binder/requirements.txt") == ["-r ../requirements.txt"]
    assert (ROOT / "binder" / "runtime.txt").read_text().strip().startswith("python-3.1")


def test_binder_and_ci_install_the_debian_packages_chapter_04b_runs():
    apt = [line.strip() for line in (ROOT / "binder" / "apt.txt").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    ci = (ROOT / ".ci" / "run").read_text()
    for package in ("nginx", "prometheus"):
        assert package in apt, f"binder/apt.txt lacks {package}"
        assert re.search(rf"apt-get install .*\b{package}\b", ci, re.S), f".ci/run lacks {package}"


def quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_install_run_test_and_ci_runs_it():
    install, run, test = quick_start_commands()
    assert "requirements.txt" in install
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in ci
    makefile = (ROOT / "Makefile").read_text()
    for command in (install, run, test):
        target = command.split()[1] if command.startswith("make ") else "install"
        assert f"make {target}" in ci, f"CI does not run {command!r}"
        assert re.search(rf"^{target}:", makefile, re.M), f"no Makefile target {target}"


def test_book_lists_every_chapter_and_solution():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = {c["file"] for part in toc["parts"] for c in part["chapters"]}
    for folder in ("chapters", "solutions"):
        for nb in (ROOT / folder).glob("*.ipynb"):
            assert f"{folder}/{nb.stem}" in files, f"{nb.name} is not in book/_toc.yml"
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["launch_buttons"]["binderhub_url"]


def notebook_text(path):
    nb = json.loads(path.read_text())
    out = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            out.append("".join(o.get("text", "")))
            out.append("".join(o.get("data", {}).get("text/markdown", "")))
    return "\n".join(out)


def test_readme_claims_come_from_the_committed_runs():
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (C\d+) \|(.*)\|(.*)\| (.*?) \| (\w+)(?:, \w+)* \|$", readme, re.M)
    assert len(rows) == 14
    measured_rows = [r for r in rows if r[3] != "pending"]
    assert measured_rows, "no measured claim in the README"
    for claim, _, measured, verdict, chapter in measured_rows:
        nb = next((ROOT / "chapters").glob(f"{chapter}_*.ipynb"))
        outputs = notebook_text(nb)
        assert f"| {claim} |" in outputs and f"**{verdict}**" in outputs, (claim, verdict)
        numbers = re.findall(r"\d[\d,]*(?:\.\d+)?x?", measured)
        for number in [n for n in numbers if len(n) >= 4]:
            assert number in outputs, f"README's {claim} number {number} is not in {nb.name}"
