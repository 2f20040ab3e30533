"""The course's promises about its own notebooks: executed, in order, error-free, stamped.

``make reproduce`` executes each notebook in place, in a fresh kernel, in the ``full``
profile, then calls :func:`stamp`, which records in the notebook's metadata everything the
run depended on: a hash of the code cells, a hash of each ``mnist_course`` module the
notebook imports (directly or through other modules of the package), and the version of
each installed library those import. :func:`problems` lists what is wrong with a committed
notebook, naming what changed since its run; the tests call it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path

PACKAGE = "mnist_course"
PACKAGE_DIR = Path(__file__).resolve().parents[1]

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


def _imports(source: str) -> set[str]:
    """Absolute names of the modules a piece of Python imports, anywhere in it (notebook
    magics and shell lines dropped; relative imports are resolved by the caller)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = compile("\n".join(lines), "<cell>", "exec",
                   flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
            found.update("." * node.level + (f"{node.module}." if node.module else "")
                         + alias.name for alias in node.names)
    return found


def _module_file(name: str) -> Path | None:
    """The source file of a module of this package, or None (not ours, or not a module)."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = PACKAGE_DIR.joinpath(*name.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def dependencies(nb: dict) -> tuple[list[Path], list[str]]:
    """The package's source files a notebook runs (imported from its code cells, directly
    or through other package modules, with their parent packages), and the top-level names
    of the other modules they all import."""
    pending = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            pending |= _imports(_source(cell))
    files: set[Path] = set()
    external: set[str] = set()
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if not name.strip(".") or name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            if not name.startswith((".", PACKAGE)):
                external.add(name.split(".")[0])
            continue
        parts = name.split(".")
        pending.update(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        if path in files:
            continue
        files.add(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in _imports(path.read_text(encoding="utf-8")):
            level = len(imported) - len(imported.lstrip("."))
            if level:
                anchor = package.split(".")[: len(package.split(".")) - (level - 1)]
                imported = ".".join(anchor + ([imported[level:]] if imported[level:] else []))
            pending.add(imported)
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    return sorted(files), sorted(external - stdlib)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_inputs(nb: dict) -> dict:
    """What a run of ``nb`` depends on: code hash, package sources, library versions."""
    files, external = dependencies(nb)
    top_level = metadata.packages_distributions()
    libraries = {}
    for module in external:
        for dist in top_level.get(module, []):
            try:
                libraries[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:  # a stale entry of a removed package
                continue
    return {
        "code_sha256": code_hash(nb),
        "package_sha256": {str(p.relative_to(PACKAGE_DIR.parent)): _file_hash(p)
                           for p in files},
        "libraries": dict(sorted(libraries.items())),
    }


COLAB_FIRST_LINE = "# Colab set-up: on Google Colab, fetch this course; anywhere else, do nothing."


def colab_cell(folder: str, config: Path = PACKAGE_DIR.parent / "book" / "_config.yml") -> str:
    """The first code cell of every notebook in ``folder`` (chapters, solutions), generated
    from the repository URL and branch in ``book/_config.yml``, the one place they are
    written. On Colab it clones the course (package and verified data files), installs the
    package and moves into the notebook's folder; elsewhere ``google.colab`` is absent and
    the cell does nothing."""
    import yaml

    repository = yaml.safe_load(Path(config).read_text(encoding="utf-8"))["repository"]
    url, branch = repository["url"], repository.get("branch", "main")
    return "\n".join([
        COLAB_FIRST_LINE,
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f'    url = "{url}"',
        f"    !git clone --quiet --depth 1 --branch {branch} $url /content/mnist-course",
        "    %pip install --quiet -e /content/mnist-course",
        '    sys.path.insert(0, "/content/mnist-course")  # no restart needed',
        f"    %cd /content/mnist-course/{folder}",
    ])


def first_code_cell(nb: dict) -> str:
    return next(_source(c) for c in nb["cells"] if c["cell_type"] == "code")


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
            and not any(_text(v) for v in rich.values()))


def _text(value):
    """A MIME bundle's value: text (a string or, as nbformat stores it, a list of lines),
    or JSON (``application/*+json``: any structure, empty only if falsy)."""
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return value


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
    nb["metadata"][STAMP_KEY] = {**run_inputs(nb), "profile": profile}
    if seconds is not None:
        nb["metadata"][STAMP_KEY]["run_seconds"] = round(seconds, 1)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def problems(path: Path) -> list[str]:
    """Everything that breaks the promise "committed outputs come from one clean full run"."""
    nb = _read(path)
    found = []
    stamp_ = nb.get("metadata", {}).get(STAMP_KEY, {})
    now = run_inputs(nb)
    if stamp_.get("code_sha256") != now["code_sha256"]:
        found.append("code changed since the last `make reproduce` (stale outputs)")
    then = stamp_.get("package_sha256")
    if then is None:
        found.append("the stamp does not record the mnist_course sources (an old stamp): "
                     "re-run the notebook")
    else:
        for file in sorted(set(then) | set(now["package_sha256"])):
            if then.get(file) != now["package_sha256"].get(file):
                state = ("is new" if file not in then else "is no longer imported"
                         if file not in now["package_sha256"] else "changed")
                found.append(f"{file} {state} since the run (stale outputs)")
    libraries = stamp_.get("libraries", {})
    for dist in sorted(set(libraries) | set(now["libraries"])):
        if libraries.get(dist) != now["libraries"].get(dist):
            found.append(f"library {dist}: ran with {libraries.get(dist, 'nothing')}, "
                         f"installed now {now['libraries'].get(dist, 'nothing')}")
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
        # the kernel listens on 127.0.0.1 only; its warning that TCP is unencrypted would
        # print once per notebook, so only its errors are shown
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    return time.perf_counter() - start
