"""The contact sheet: the source image(s) and the outputs in rows, with a caption under each."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

MAX_ROW_WIDTH = 2048
"""Pixels a row of tiles may take before the next tile starts a new row."""


def contact_sheet(sources: list[Image.Image], outputs: list[Image.Image], path: Path, height: int = 320,
                  max_width: int = MAX_ROW_WIDTH) -> None:
    """Source(s) then outputs, each scaled to ``height`` px (at most 4 × as wide), with a caption strip, in rows of at
    most ``max_width`` px (a tile wider than that is a row of its own); the sheet is as wide as its widest row."""
    tiles = [("source", img) for img in sources] + [(f"{i:02d}", img) for i, img in enumerate(outputs)]
    scaled = [(label, ImageOps.contain(img.convert("RGB"), (height * 4, height))) for label, img in tiles]
    gap, caption = 8, 24
    rows: list[list[tuple[str, Image.Image]]] = [[]]
    width = gap
    for label, img in scaled:
        if rows[-1] and width + img.width + gap > max_width:
            rows.append([])
            width = gap
        rows[-1].append((label, img))
        width += img.width + gap
    row_height = height + caption + gap
    sheet_width = max(gap + sum(img.width + gap for _, img in row) for row in rows)
    sheet = Image.new("RGB", (sheet_width, gap + row_height * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for number, row in enumerate(rows):
        x, y = gap, gap + number * row_height
        for label, img in row:
            sheet.paste(img, (x, y))
            draw.text((x + 4, y + height + 4), label, fill="black")
            x += img.width + gap
    sheet.save(path)
