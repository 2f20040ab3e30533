"""The claims ledger: the README's claims table, the book's ``claims.md`` and its forest
plot, generated from the claims that the committed notebooks stored as JSON beside their
*Claims check* tables.

``python -m mnist_course claims`` writes all three; ``--check`` says whether they are
current and recomputes every stored verdict from its stored numbers (:func:`problems`).
Nothing here is typed by hand: each row is what a chapter's run measured and the verdict
the policy in :mod:`mnist_course.course.claims` gave it.
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

from mnist_course.course import claims
from mnist_course.course.claims import CLAIMS_MIME, READINGS, markdown_text

ROOT = Path(__file__).resolve().parents[2]
README_START, README_END = "<!-- claims-table:start -->", "<!-- claims-table:end -->"
BOOK_PAGE = Path("book") / "claims.md"
FOREST = Path("book") / "claims_forest.png"
#: Colour of each verdict in the forest plot.
COLOURS = {claims.CONFIRMED: "#1b7837", claims.PARTLY: "#7fbf7b",
           claims.REFUTED: "#c51b7d", claims.INCONCLUSIVE: "#e08214",
           claims.UNTESTABLE_SETTING: "#8073ac", claims.UNTESTABLE_BUDGET: "#999999"}


def chapter_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "chapters").glob("*.ipynb"))


def stored_claims(path: Path) -> list[dict]:
    """The claim records a notebook's outputs hold, in order (none if it has no table)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    records = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if CLAIMS_MIME in data:
                records += [{**r, "chapter": path.stem.split("_")[0], "notebook": path.name}
                            for r in data[CLAIMS_MIME]]
    return records


def run_seconds(path: Path) -> float | None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return nb.get("metadata", {}).get("mnist_course", {}).get("run_seconds")


def rows(root: Path = ROOT) -> list[dict]:
    """Every claim the course reads, once per chapter that stored it, in the order of
    :data:`READINGS`; an article's claim no committed notebook checks yet is 'pending'."""
    found = [r for nb in chapter_notebooks(root) for r in stored_claims(nb)]
    out = []
    for claim_id, spec in READINGS.items():
        mine = [r for r in found if r["id"] == claim_id]
        if mine:
            out += sorted(mine, key=lambda r: r["chapter"])
        elif claim_id.startswith("C"):
            out.append({"id": claim_id, "article": spec.words, "measured": "",
                        "verdict": "pending", "rule": "", "why": "",
                        "chapter": ", ".join(spec.chapters), "notebook": None})
    return out


def _chapter_link(row: dict, prefix: str) -> str:
    if row["notebook"] is None:
        return row["chapter"]
    return f"[{row['chapter']}]({prefix}chapters/{row['notebook']})"


def readme_table(root: Path = ROOT) -> str:
    table = markdown_text(
        ["claim", "measured here", "verdict", "chapter"],
        [[f"{r['id']}: {r['article']}", r["measured"], r["verdict"], _chapter_link(r, "")]
         for r in rows(root)])
    return f"{README_START}\n{table}\n{README_END}"


def _short_why(row: dict) -> str:
    """The ledger's 'why': each part's label and its reason's first clause."""
    parts = row.get("parts") or [row]
    def first(p: dict) -> str:
        return re.split(r"[;:] ", p["why"].rstrip("."), maxsplit=1)[0]
    if len(parts) == 1:
        return first(parts[0])
    return "; ".join(f"{p['part']}: {p['verdict']}, {first(p)}" for p in parts)


def forest_rows(root: Path = ROOT) -> list[tuple[str, dict]]:
    """One (label, part record) per measured claim or part, in ledger order."""
    out = []
    for row in rows(root):
        if row["verdict"] == "pending":
            continue
        for part in row.get("parts") or [row]:
            name = f"{row['id']} {part['part']}".strip() + f" ({row['chapter']})"
            out.append((name, part))
    return out


def normalised(part: dict) -> tuple[float, float, float, float]:
    """A part's interval and estimate as distances from the claimed region's nearest edge,
    in units of its scale (the margin, or a quarter of the claimed effect, or 1% of a
    stated level), positive inside the region; and the region's width in the same units
    (inf for an open region). Ratios are measured on the log scale."""
    log = part["log"]
    def t(x):
        if x is None:
            return None
        if not log:
            return x
        return math.log(x) if x > 0 else -math.inf
    claimed, null = t(part["claimed"]), t(part["null_value"])
    lo_edge, hi_edge = (t(e) for e in part["region"])
    margin = math.log1p(part["margin"]) if log else part["margin"]
    scale = margin or (abs(claimed - null) / 4 if null is not None else abs(claimed) / 100)
    scale = scale or 1.0
    # orient so that "up" is towards the region from below
    if lo_edge is not None:
        edge, sign = lo_edge, 1.0
    else:
        edge, sign = hi_edge, -1.0
    def along(x):
        return sign * (x - edge) / scale
    low, high = sorted((along(t(part["low"])), along(t(part["high"]))))
    width = (math.inf if lo_edge is None or hi_edge is None
             else (hi_edge - lo_edge) / scale)
    return low, high, along(t(part["estimate"])), width


def forest_png(root: Path = ROOT) -> bytes:
    """The forest plot: one row per claim or part, its interval as a bar, the claimed
    region shaded, the estimate as a dot, coloured by verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    items = forest_rows(root)
    limit = 8.0
    fig, ax = plt.subplots(figsize=(8.5, 0.32 * len(items) + 1.6), dpi=100)
    for i, (_name, part) in enumerate(items):
        y = len(items) - 1 - i
        low, high, est, width = normalised(part)
        ax.fill_betweenx([y - 0.4, y + 0.4], 0, min(width, limit), color="#dddddd", lw=0)
        colour = COLOURS[part["verdict"]]
        clip = [max(-limit, min(limit, v)) for v in (low, high, est)]
        ax.plot(clip[:2], [y, y], color=colour, lw=3, solid_capstyle="butt")
        ax.plot([clip[2]], [y], "o", color=colour, ms=5, mec="black", mew=0.5)
        for value, shown in ((low, clip[0]), (high, clip[1])):
            if value != shown:  # the interval runs off the axis
                ax.annotate("", (shown, y), (shown - math.copysign(0.6, shown), y),
                            arrowprops={"arrowstyle": "->", "color": colour})
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(items)), [name for name, _ in reversed(items)], fontsize=8)
    ax.set_xlim(-limit - 0.5, limit + 0.5)
    ax.set_ylim(-0.7, len(items) - 0.3)
    ax.set_xlabel("distance from the edge of the claimed region (shaded), in units of the "
                  "claim's margin\n(or a quarter of its effect, or 1% of a stated level; "
                  "ratios on the log scale)", fontsize=8)
    ax.legend(handles=[Line2D([], [], color=c, lw=3, label=v) for v, c in COLOURS.items()],
              fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def book_page(root: Path = ROOT) -> str:
    policy = claims.__doc__.split("The policy, in six sentences", 1)[1].split("\n", 1)[1]
    measured = rows(root)
    counts = {v: sum(r["verdict"] == v for r in measured) for v in (*claims.VERDICTS,
                                                                     "pending")}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    legend = markdown_text(["verdict", "means"],
                           [[f"**{v}**", words] for v, words in claims.LEGEND.items()])
    ledger = markdown_text(
        ["claim", "the article claims", "measured here", "verdict", "why", "chapter"],
        [[r["id"], r["article"], r["measured"], f"**{r['verdict']}**",
          _short_why(r) if r["why"] else "", _chapter_link(r, "../")] for r in measured])
    seconds = {nb.stem: run_seconds(nb) for folder in ("chapters", "solutions")
               for nb in sorted((root / folder).glob("*.ipynb"))}
    times = markdown_text(
        ["notebook", "full run (s)"],
        [[stem, "not stamped" if s is None else f"{s:.0f}"] for stem, s in seconds.items()])
    return "\n".join([
        "# Claims ledger",
        "",
        "Every numbered claim of the article (C1-C14) and chapter 06's treatment comparisons",
        "(T06), what the course measured, and the verdict. This page is generated by",
        "`python -m mnist_course claims` from the tables that the committed notebooks",
        "computed; do not edit it by hand.",
        "",
        f"**{len(measured)} rows:** {summary}.",
        "",
        legend,
        "",
        f"![Forest plot of every claim]({FOREST.name})",
        "",
        "Each row of the forest plot is one claim, or one part of a composite claim: the bar",
        "is its 95% interval, the dot its estimate, the shaded band the region of values",
        "that count as the claim holding, all on an axis where 0 is the region's edge.",
        "",
        "## The ledger",
        "",
        ledger,
        "",
        "Each row's full reason, the reading applied and the numbers it came from are in its",
        "chapter's *Claims check*; `python -m mnist_course claims --check` recomputes every",
        "verdict from those stored numbers.",
        "",
        "## The verdict policy",
        "",
        "All chapters use the rules of `mnist_course.course.claims`:",
        "",
        *[_markdown(line[4:] if line.startswith("    ") else line)
          for line in policy.strip().splitlines()],
        "",
        f"`MIN_PAIRED_SEEDS` is {claims.MIN_PAIRED_SEEDS}.",
        "",
        "## Run times",
        "",
        "Seconds of each notebook's last `full` run, from its stamp (`make reproduce`).",
        "",
        times,
        "",
    ])


def _markdown(rst: str) -> str:
    """The docstring's reStructuredText roles and literals as Markdown code spans."""
    return re.sub(r":\w+:`([^`]+)`", r"`\1`", rst).replace("``", "`")


def problems(root: Path = ROOT) -> list[str]:
    """Generated files that differ from what the committed notebooks give, and stored
    verdicts that their own numbers do not reproduce."""
    found = []
    for row in rows(root):
        if row["verdict"] != "pending":
            try:
                found += [f"{row['notebook']}: {p}" for p in claims.recompute(row)]
            except KeyError as missing:
                found.append(f"{row['notebook']}: {row['id']} stores no {missing} (an old "
                             "row): re-run the chapter")
    readme = (root / "README.md").read_text(encoding="utf-8")
    if README_START not in readme or README_END not in readme:
        found.append(f"README.md has no {README_START} ... {README_END} block")
    else:
        start, end = readme.index(README_START), readme.index(README_END) + len(README_END)
        if readme[start:end] != readme_table(root):
            found.append("README.md's claims table is out of date")
    page = root / BOOK_PAGE
    if not page.exists() or page.read_text(encoding="utf-8") != book_page(root):
        found.append(f"{BOOK_PAGE} is out of date")
    forest = root / FOREST
    if not forest.exists() or forest.read_bytes() != forest_png(root):
        found.append(f"{FOREST} is out of date")
    return found


def write(root: Path = ROOT) -> None:
    readme_path = root / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    start, end = readme.index(README_START), readme.index(README_END) + len(README_END)
    readme_path.write_text(readme[:start] + readme_table(root) + readme[end:], encoding="utf-8")
    (root / BOOK_PAGE).write_text(book_page(root), encoding="utf-8")
    (root / FOREST).write_bytes(forest_png(root))
