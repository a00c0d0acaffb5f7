"""The dossier's PDF: the case, its owners and deadlines, the map of its cell, its trail and
photos, and the tree head that proves them, laid out with ReportLab.

Chinese text is set in a TrueType CJK font embedded in the PDF (subset to the characters used):
Droid Sans Fallback (Debian ``fonts-droid-fallback``) or WenQuanYi Zen Hei (``fonts-wqy-zenhei``).
Debian's Noto CJK fonts have CFF outlines, which ReportLab cannot embed. With neither font, the
PDF falls back to ReportLab's built-in CID font ``STSong-Light``, which is *named*, not embedded:
a reader needs its own Adobe-GB1 font (poppler needs ``poppler-data``). Citizen-written text is
escaped before it reaches ReportLab's paragraph markup.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from gridmgr.cases import Case
from gridmgr.ledger.hashing import LedgerEvent
from gridmgr.ledger.treehead import SignedTreeHead
from gridmgr.responsibility.calendar import TZ

if TYPE_CHECKING:
    from reportlab.platypus import Flowable

CID_FONT = "STSong-Light"
EMBEDDED_FONTS = (
    ("DroidSansFallback", Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")),
    ("WenQuanYiZenHei", Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),
)
"""TrueType CJK fonts ReportLab can embed, in order of preference (Debian's paths)."""
MAP_PX = (900, 700)
LATIN_FONT = "Helvetica"
_LATIN = re.compile(r"([\u0000-\u2e7f]+)")


@dataclass(frozen=True)
class DossierPhoto:
    """A photo of the dossier: its file name in the zip, its bytes and its ledger hash."""

    file: str
    attachment_id: str
    sha256: str
    content_type: str
    taken: str
    data: bytes


@dataclass(frozen=True)
class DossierContent:
    """Everything that goes into a dossier, before it is written (the PDF reads it)."""

    case: Case
    number: int | None
    cell_name: str
    owners: list[tuple[str, str]]
    events: list[LedgerEvent]
    photos: list[DossierPhoto]
    head: SignedTreeHead
    generated_at: datetime
    cell_map: bytes | None = None


def cjk_font() -> str:
    """The name of the registered CJK font: the first embeddable one found, else the CID font."""
    registered = pdfmetrics.getRegisteredFontNames()
    for name, path in EMBEDDED_FONTS:
        if name in registered:
            return name
        if path.is_file():
            pdfmetrics.registerFont(TTFont(name, str(path)))
            return name
    if CID_FONT not in registered:
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=cjk_font(), fontSize=9, leading=12, wordWrap="CJK")
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7, leading=9),
        "h1": ParagraphStyle("h1", parent=base, fontSize=16, leading=20, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=16, spaceBefore=8),
    }


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: escaped, so no text is read as markup; runs without CJK are
    set in Helvetica (the CJK fallback fonts have no Latin glyphs)."""
    parts = []
    for run in _LATIN.split(str(text)):
        if not run:
            continue
        if _LATIN.fullmatch(run):
            parts.append(f'<font face="{LATIN_FONT}">{escape(run)}</font>')
        else:
            parts.append(escape(run))
    return Paragraph("".join(parts), style)


def _table(
    rows: Sequence[Sequence[object]], styles: dict[str, ParagraphStyle], widths: list[float]
) -> Table:
    cells = [[_p(c, styles["small"]) for c in row] for row in rows]
    table = Table(cells, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _local(value: object) -> str:
    if value is None:
        return "—"
    from datetime import datetime

    if isinstance(value, datetime):
        return f"{value.astimezone(TZ):%Y-%m-%d %H:%M}"
    return str(value)


def _summary(content: DossierContent, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    case = content.case
    rows = [
        ["项目 item", "内容 value"],
        ["案卷号 case", f"{content.number or '—'}  ({case.case_id})"],
        ["类别 category", case.category],
        ["状态 state", f"{case.state.label_zh} {case.state.value}"],
        ["网格 cell", f"{content.cell_name} {case.cell or ''}"],
        ["上报 reported", _local(case.reported_at)],
        ["当前阶段 stage", "—" if case.stage is None else case.stage.value],
        ["时限 deadline", _local(case.due_at)],
        ["责任人 holder", "—" if case.holder is None else case.holder.name],
        ["描述 description", case.description],
    ]
    owners = [["岗位 post", "责任人 person"], *[[post, who] for post, who in content.owners]]
    return [
        _table(rows, styles, [4 * cm, 13 * cm]),
        _p("责任链 owners (now)", styles["h2"]),
        _table(owners, styles, [9 * cm, 8 * cm]),
    ]


def _trail(content: DossierContent, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    rows: list[list[object]] = [
        ["seq", "时间 time", "事件 event", "人 actor", "说明 comment", "hash"]
    ]
    for event in content.events:
        details = json.loads(event.payload)
        comment = details.get("comment") or details.get("to_state") or ""
        rows.append([event.seq, event.at, event.kind, event.actor, comment, event.hash[:16] + "…"])
    widths = [1.2 * cm, 3.6 * cm, 3 * cm, 2.6 * cm, 4.2 * cm, 2.6 * cm]
    return [_p("全程留痕 trail", styles["h2"]), _table(rows, styles, widths)]


def _photos(content: DossierContent, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [_p(f"照片 photos ({len(content.photos)})", styles["h2"])]
    for photo in content.photos:
        try:
            picture = Image(io.BytesIO(photo.data))
            scale = min(8 * cm / picture.imageWidth, 6 * cm / picture.imageHeight)
            picture.drawWidth = picture.imageWidth * scale
            picture.drawHeight = picture.imageHeight * scale
            out.append(picture)
        except (OSError, ValueError):
            out.append(_p("(this photo's format cannot be shown here)", styles["small"]))
        out.append(_p(f"{photo.file}  SHA-256 {photo.sha256}", styles["small"]))
    return out


def cell_map_png(case: Case, grid_cells: list[tuple[str, Any, bool]]) -> bytes:
    """A small map: the case's cell filled, its neighbours outlined, the case as a red dot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(MAP_PX[0] / 100, MAP_PX[1] / 100), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for _, geometry, own in grid_cells:
        for polygon in getattr(geometry, "geoms", [geometry]):
            x, y = polygon.exterior.xy
            if own:
                axes.fill(x, y, color="#ffd27f", alpha=0.8)
            axes.plot(x, y, color="#335", linewidth=1.2 if own else 0.5)
    if case.lon is not None and case.lat is not None:
        axes.plot([case.lon], [case.lat], "o", color="red", markersize=8)
    axes.set_aspect("equal")
    axes.tick_params(labelsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def render_pdf(content: DossierContent) -> bytes:
    """The dossier's PDF, as bytes."""
    styles = _styles()
    head = content.head
    story: list[Flowable] = [
        _p(f"案卷 Case dossier — {content.number or content.case.case_id}", styles["h1"]),
        _p(f"生成 generated {_local(content.generated_at)}", styles["small"]),
        Spacer(1, 6),
        *_summary(content, styles),
    ]
    if content.cell_map is not None:
        picture = Image(
            io.BytesIO(content.cell_map), width=12 * cm, height=12 * cm * MAP_PX[1] / MAP_PX[0]
        )
        story += [_p(f"网格图 map of cell {content.case.cell}", styles["h2"]), picture]
    story += _trail(content, styles)
    story += _photos(content, styles)
    story += [
        _p("验证 verification", styles["h2"]),
        _p(
            f"Signed tree head: {head.size} events, root {head.root_hash}, at {head.timestamp}, "
            f"Ed25519 key {head.key_id}. Each event's inclusion proof is in proofs.json; check "
            "the whole dossier offline with `gridmgr ledger verify-dossier`.",
            styles["small"],
        ),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=f"Case dossier {content.case.case_id}", author="gridmgr"
    )
    document.build(story)
    return buffer.getvalue()
