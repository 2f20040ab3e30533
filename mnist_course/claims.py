"""The "Claims check" table that closes every chapter: the article's number, ours, a verdict."""

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


def claims_table(rows: list[Claim]):
    """Render the rows as a Markdown table (an IPython display object)."""
    from IPython.display import Markdown

    for row in rows:
        if row.verdict not in VERDICTS:
            raise ValueError(f"{row.id}: verdict {row.verdict!r} is not one of {VERDICTS}")
    lines = ["| claim | the article | measured here | verdict | why |", "|---|---|---|---|---|"]
    lines += [f"| {r.id} | {r.article} | {r.measured} | **{r.verdict}** | {r.why} |" for r in rows]
    return Markdown("\n".join(lines))
