"""QR codes of a link's public URL (segno; imported by the admin API, never by the redirect)."""

from __future__ import annotations

import io

import segno

ERROR_CORRECTION = "m"  # survives a smudged or partly covered print (15% of the code)
SVG_SCALE = 8
PNG_SCALE = 10
BORDER = 4  # the quiet zone the QR specification asks for


def qr_svg(data: str) -> str:
    out = io.BytesIO()
    segno.make(data, error=ERROR_CORRECTION, micro=False).save(
        out, kind="svg", scale=SVG_SCALE, border=BORDER, xmldecl=True, title=data
    )
    return out.getvalue().decode("utf-8")


def qr_png(data: str) -> bytes:
    out = io.BytesIO()
    segno.make(data, error=ERROR_CORRECTION, micro=False).save(out, kind="png", scale=PNG_SCALE, border=BORDER)
    return out.getvalue()
