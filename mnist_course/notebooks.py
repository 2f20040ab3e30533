"""The course's promises about its own notebooks: executed, in order, error-free, stamped.

``make reproduce`` executes each notebook in place, in a fresh kernel, in the ``full``
profile, then calls :func:`stamp`, which records a hash of the code cells in the notebook's
metadata. :func:`problems` lists what is wrong with a committed notebook; the tests call it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

STAMP_KEY = "mnist_course"
#: Cell metadata that execution tools add and that would only churn the diff.
VOLATILE_CELL_METADATA = ("papermill", "execution")


def _read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def code_hash(nb: dict) -> str:
    """SHA-256 of the code cells' sources, in order (whitespace at the ends ignored)."""
    sources = [_source(c).strip() for c in nb["cells"] if c["cell_type"] == "code"]
    return hashlib.sha256(json.dumps(sources).encode("utf-8")).hexdigest()


def _final_text(text: str) -> str:
    """What a terminal shows after carriage returns: each line's last rewrite (progress bars)."""
    return "\n".join(([part for part in line.split("\r") if part] or [""])[-1]
                     for line in text.split("\n"))


def _empty_display(out: dict) -> bool:
    """A display whose only content is its text fallback, such as a progress widget that
    cleared itself and left "<IPython.core.display.HTML object>" behind."""
    data = out.get("data", {})
    rich = {k: v for k, v in data.items() if k != "text/plain"}
    return (out.get("output_type") == "display_data" and bool(rich)
            and not any("".join(v) if isinstance(v, list) else v for v in rich.values()))


def coalesce_streams(outputs: list[dict]) -> list[dict]:
    """Merge consecutive stdout/stderr outputs of a cell and keep only the final state of
    lines rewritten with carriage returns, so a progress bar is stored as its last frame."""
    merged: list[dict] = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged
                and merged[-1].get("output_type") == "stream"
                and merged[-1]["name"] == out["name"]):
            merged[-1]["text"] = "".join(merged[-1]["text"]) + "".join(out["text"])
        else:
            merged.append(dict(out))
    merged = [out for out in merged if not _empty_display(out)]
    for out in merged:
        if out.get("output_type") == "stream":
            text = "".join(out["text"]).replace("\r\n", "\n")
            out["text"] = _final_text(text)
    return merged


def stamp(path: Path, profile: str, seconds: float | None = None) -> None:
    """Record the code hash and profile of an executed notebook, drop volatile metadata and
    collapse progress-bar output to its final frame."""
    path = Path(path)
    nb = _read(path)
    for cell in nb["cells"]:
        if "outputs" in cell:
            cell["outputs"] = coalesce_streams(cell["outputs"])
        meta = cell.setdefault("metadata", {})
        for key in VOLATILE_CELL_METADATA:
            meta.pop(key, None)
        if meta.get("tags") == []:  # papermill adds empty tag lists
            del meta["tags"]
    nb["metadata"].pop("papermill", None)
    nb["metadata"][STAMP_KEY] = {"code_sha256": code_hash(nb), "profile": profile}
    if seconds is not None:
        nb["metadata"][STAMP_KEY]["run_seconds"] = round(seconds, 1)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def problems(path: Path) -> list[str]:
    """Everything that breaks the promise "committed outputs come from one clean full run"."""
    nb = _read(path)
    found = []
    stamp_ = nb.get("metadata", {}).get(STAMP_KEY, {})
    if stamp_.get("code_sha256") != code_hash(nb):
        found.append("code changed since the last `make reproduce` (stale outputs)")
    if stamp_.get("profile") != "full":
        found.append(f"outputs come from profile {stamp_.get('profile')!r}, not 'full'")
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    if None in counts:
        found.append(f"{counts.count(None)} code cell(s) have no execution count")
    elif counts != list(range(1, len(counts) + 1)):
        found.append(f"execution counts {counts} are not one top-to-bottom run")
    errors = sum(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    if errors:
        found.append(f"{errors} error output(s)")
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in code):
        found.append("no code cell tagged 'parameters'")
    return found


def execute(path: Path, output: Path, profile: str, kernel: str = "python3") -> float:
    """Run a notebook top to bottom in a fresh kernel with papermill; return the seconds."""
    import time

    import papermill

    os.environ["MNIST_COURSE_PROFILE"] = profile
    start = time.perf_counter()
    papermill.execute_notebook(
        str(path), str(output), kernel_name=kernel, cwd=str(Path(path).parent),
        progress_bar=False,
    )
    return time.perf_counter() - start
