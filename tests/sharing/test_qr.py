"""QR codes of invite links, as every front end draws them."""

import io
import struct
import xml.etree.ElementTree as ElementTree

import segno

from sharing.qr import QUIET_ZONE, qr_png, qr_svg

LINK = "https://t.me/referral_club_bot?start=K7M2QX"
SVG = "{http://www.w3.org/2000/svg}"


def test_svg_scales_to_its_box_and_is_dark_on_white() -> None:
    svg = ElementTree.fromstring(qr_svg(LINK, title="Invite link"))
    assert svg.tag == f"{SVG}svg"
    assert "width" not in svg.attrib and "height" not in svg.attrib
    size = segno.make(LINK, error="m").symbol_size(border=QUIET_ZONE)[0]
    assert svg.attrib["viewBox"] == f"0 0 {size} {size}"
    assert svg.findtext(f"{SVG}title") == "Invite link"
    paths = svg.findall(f"{SVG}path")
    assert paths[0].attrib["fill"] == "#fff" and paths[1].attrib["stroke"] == "#000"


def test_png_has_the_modules_at_the_scale_asked() -> None:
    png = qr_png(LINK, scale=8)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    size = segno.make(LINK, error="m").symbol_size(scale=8, border=QUIET_ZONE)[0]
    assert width == height == size


def test_the_same_link_draws_the_same_symbol_in_both() -> None:
    symbol = segno.make(LINK, error="m")
    matrix_png = io.BytesIO()
    symbol.save(matrix_png, kind="png", scale=10, border=QUIET_ZONE, dark="#000", light="#fff")
    assert qr_png(LINK) == matrix_png.getvalue()
