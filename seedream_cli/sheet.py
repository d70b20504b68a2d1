"""The contact sheet: the source image(s) and the outputs side by side, with a caption under each."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageOps


def contact_sheet(sources: list[Image.Image], outputs: list[Image.Image], path: Path, height: int = 320) -> None:
    """Source(s) then outputs, side by side, each scaled to ``height`` px, with a caption strip."""
    tiles = [("source", img) for img in sources] + [(f"{i:02d}", img) for i, img in enumerate(outputs)]
    scaled = [(label, ImageOps.contain(img.convert("RGB"), (height * 4, height))) for label, img in tiles]
    gap, caption = 8, 24
    width = sum(img.width for _, img in scaled) + gap * (len(scaled) + 1)
    sheet = Image.new("RGB", (width, height + caption + gap * 2), "white")
    draw = ImageDraw.Draw(sheet)
    x = gap
    for label, img in scaled:
        sheet.paste(img, (x, gap))
        draw.text((x + 4, gap + height + 4), label, fill="black")
        x += img.width + gap
    sheet.save(path)
