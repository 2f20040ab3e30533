"""Tables for the notebooks, above all the "Claims check" that closes every chapter: the
article's number, ours, and a verdict."""

from __future__ import annotations

from typing import NamedTuple

VERDICTS = ("confirmed", "partly confirmed", "refuted", "not reproducible here")


class Claim(NamedTuple):
    """One row: claim id (C1..C14 in ARTICLE.md), what the article says, what we measured."""

    id: str
    article: str
    measured: str
    verdict: str
    why: str = ""


def markdown_table(header: list[str], rows: list[list]):
    """Render rows (any values, shown with str) as a Markdown table (an IPython display object)."""
    from IPython.display import Markdown

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def claims_table(rows: list[Claim]):
    """Render the claims as a Markdown table, checking that every verdict is a known one."""
    for row in rows:
        if row.verdict not in VERDICTS:
            raise ValueError(f"{row.id}: verdict {row.verdict!r} is not one of {VERDICTS}")
    return markdown_table(["claim", "the article", "measured here", "verdict", "why"],
                          [[r.id, r.article, r.measured, f"**{r.verdict}**", r.why] for r in rows])
