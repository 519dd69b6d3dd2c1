"""Pairing QR codes: SVG for the page, text for the terminal (``qrcode``, no PIL needed)."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg


def _code(data: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_svg(data: str) -> str:
    """An SVG (one path, no external references) encoding ``data``."""
    image = _code(data).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    svg = image.to_string(encoding="unicode")
    return svg if isinstance(svg, str) else svg.decode("utf-8")


def qr_text(data: str) -> str:
    """The QR code drawn with half-block characters, for ``jarvis serve`` / ``jarvis web`` output."""
    out = io.StringIO()
    _code(data).print_ascii(out=out, invert=True)
    return out.getvalue()
