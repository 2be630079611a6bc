"""QR codes of invite links, drawn once for every front end: SVG for the web app, PNG for chats."""

import io

import segno

# Medium error correction: a printed or photographed code still reads with a smudge on it, and a
# link of ~40 characters stays a small, easily scanned symbol (version 3 or 4).
ERROR_CORRECTION = "m"
QUIET_ZONE = 4  # modules of light margin, as the QR standard asks


def _symbol(link: str) -> segno.QRCode:
    return segno.make(link, error=ERROR_CORRECTION, micro=False)


def qr_svg(link: str, *, title: str = "") -> bytes:
    """The QR code of `link` as a scalable SVG (a viewBox, no fixed size), dark on white so that
    it scans on a dark page too."""
    out = io.BytesIO()
    _symbol(link).save(
        out,
        kind="svg",
        border=QUIET_ZONE,
        dark="#000",
        light="#fff",
        xmldecl=False,
        omitsize=True,
        title=title or None,
    )
    return out.getvalue()


def qr_png(link: str, *, scale: int = 10) -> bytes:
    """The QR code of `link` as a PNG, `scale` pixels per module."""
    out = io.BytesIO()
    _symbol(link).save(out, kind="png", scale=scale, border=QUIET_ZONE, dark="#000", light="#fff")
    return out.getvalue()
