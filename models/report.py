"""The training report: tables and figures of one evaluation, as HTML and as markdown.

HTML (figures embedded as PNG) goes under ``<home>/reports/training/`` and into the MLflow
run as ``report/training_report.html``; the markdown form is what ``distillguard evaluate``
prints, copy-pasteable into a note.
"""

from __future__ import annotations

import base64
import html
import io
import math

import pandas as pd
from matplotlib.figure import Figure


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def markdown_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "_(no rows)_"
    head = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def markdown(title: str, metrics: dict[str, float], tables: dict[str, pd.DataFrame], notes: list[str]) -> str:
    parts = [
        f"# {title}",
        "",
        "## Metrics",
        "",
        markdown_table(pd.DataFrame([{"metric": k, "value": v} for k, v in metrics.items()])),
    ]
    for name, table in tables.items():
        parts += ["", f"## {name.replace('_', ' ')}", "", markdown_table(table)]
    if notes:
        parts += ["", "## Notes", "", *[f"- {note}" for note in notes]]
    return "\n".join(parts) + "\n"


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p><em>no rows</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_report(
    title: str, metrics: dict[str, float], tables: dict[str, pd.DataFrame], notes: list[str], figures: dict[str, Figure]
) -> str:
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Metrics</h2>",
        _html_table(pd.DataFrame([{"metric": k, "value": v} for k, v in metrics.items()])),
    ]
    for name, table in tables.items():
        parts += [f"<h2>{html.escape(name.replace('_', ' '))}</h2>", _html_table(table)]
    for name, figure in figures.items():
        parts += [
            f"<h2>{html.escape(name.replace('_', ' '))}</h2>",
            f'<img alt="{html.escape(name)}" src="data:image/png;base64,{_png(figure)}">',
        ]
    if notes:
        parts += ["<h2>Notes</h2><ul>", *[f"<li>{html.escape(n)}</li>" for n in notes], "</ul>"]
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}th{background:#f4f4f4}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
