"""Write the report as one self-contained HTML page (inline CSS, figures as data URIs)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from genrenet.report.page import Section
from genrenet.report.tables import Table

NARROW_FIGURES = ("confusion_matrix", "per_genre_accuracy", "top_k_accuracy")
"""Figures shown at most 820 px wide on the page (they read well smaller)."""
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
max-width:1120px;margin:2rem auto;padding:0 1.2rem;color:#1a1a1a;line-height:1.5;background:#fff}
h1{font-size:1.9rem;margin:0 0 .3rem}h2{font-size:1.35rem;margin-top:2.6rem;
border-bottom:2px solid #e3e8ef;padding-bottom:.3rem}
p.lead{color:#3a3a3a;font-size:1.05rem}nav{background:#f6f8fb;padding:.6rem 1rem;border-radius:6px}
nav a{margin-right:1.1rem;color:#2f6db3;text-decoration:none}nav a:hover{text-decoration:underline}
table{border-collapse:collapse;margin:1rem 0;font-size:.92rem}
th,td{padding:.32rem .75rem;border-bottom:1px solid #e3e8ef;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}th{background:#f1f4f8;font-weight:600}
table.settings td,table.settings th{text-align:left}
table.settings td:first-child{color:#555;white-space:nowrap}
tr.best td{background:#e6f4e6}tr.worst td{background:#fbe9e9}
tr.summary td{font-weight:600;border-top:2px solid #c8d0da}
.scroll{overflow-x:auto}.scroll table{font-size:.88rem}
.scroll th,.scroll td{white-space:nowrap;padding:.32rem .5rem}
caption{caption-side:bottom;text-align:left;color:#666;font-size:.85rem;padding-top:.3rem}
figure{margin:1.4rem 0}figure img{max-width:100%;height:auto;border:1px solid #e3e8ef}
figure.narrow img{max-width:min(100%,820px)}
figcaption{color:#555;font-size:.9rem;margin-top:.3rem}
.missing{background:#fff7e0;border-left:4px solid #e0a800;padding:.55rem 1rem;margin:.8rem 0}
.legend-best{background:#e6f4e6;padding:0 .3rem}.legend-worst{background:#fbe9e9;padding:0 .3rem}
footer{margin-top:3rem;color:#888;font-size:.85rem}
"""


def _html_table(table: Table, css: str = "") -> str:
    """A table as HTML."""
    klass = f' class="{css}"' if css else ""
    out = [f"<table{klass}>"]
    if table.caption:
        out.append(f"<caption>{html.escape(table.caption)}</caption>")
    if table.headers:
        out.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.headers))
        out.append("</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(table.rows):
        mark = table.marks.get(i)
        attr = f' class="{mark}"' if mark else ""
        cells = "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
        out.append(f"<tr{attr}>{cells}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def render_html(title: str, lead: list[str], sections: Sequence[Section]) -> str:
    """The self-contained page: CSS inline, figures as base64 data URIs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f'<p class="lead">{html.escape(line)}</p>' for line in lead]
    links = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts.append(f"<nav>{links}</nav>")
    for section in sections:
        parts.append(f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>')
        for note in section.missing:
            parts.append(f'<p class="missing">{html.escape(note)}</p>')
        for block in section.blocks:
            if isinstance(block, str):
                parts.append(f"<p>{html.escape(block)}</p>")
            elif isinstance(block, Table) and section.id == "about":
                parts.append(_html_table(block, "settings"))
            elif isinstance(block, Table):
                parts.append(f'<div class="scroll">{_html_table(block)}</div>')
            else:
                data = base64.b64encode(block.path.read_bytes()).decode("ascii")
                narrow = ' class="narrow"' if block.key in NARROW_FIGURES else ""
                parts.append(
                    f'<figure id="fig-{block.key}"{narrow}>'
                    f'<img src="data:image/png;base64,{data}" '
                    f'alt="{html.escape(block.title)}">'
                    f"<figcaption><b>{html.escape(block.title)}.</b> "
                    f"{html.escape(block.caption)}</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("<footer>Written by genrenet report.</footer></body></html>")
    return "\n".join(parts) + "\n"
