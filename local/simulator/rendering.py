"""Real images for the simulated providers: input download and decoding, and the edit series.

Every input image URL is downloaded (or a ``data:`` URL decoded), the first source is cover-cropped
to the requested W×H and each panel of the series gets a different visible photo edit (warm
golden-hour grade, cool grade, black and white, vivid, sepia, vignette, mirror, zoom crop, ...).
Without any source image a photo-like synthetic scene stands in. Outputs are PNGs.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from urllib.parse import unquote

import httpx
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps

MAX_INPUT_BYTES = 50 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _channel_grade(img: Image.Image, r: float, g: float, b: float, lift: tuple = (0, 0, 0)) -> Image.Image:
    chans = img.split()
    out = [c.point(lambda v, k=k, add=add: max(0, min(255, int(v * k + add))))
           for c, k, add in zip(chans, (r, g, b), lift, strict=True)]
    return Image.merge("RGB", out)


def _look_golden_hour(img):
    warm = _channel_grade(img, 1.12, 1.0, 0.78, (18, 8, -6))
    return ImageEnhance.Contrast(warm).enhance(1.08)


def _look_cool_blue(img):
    return _channel_grade(img, 0.82, 0.97, 1.18, (-8, 0, 20))


def _look_black_white(img):
    gray = ImageOps.autocontrast(ImageOps.grayscale(img), cutoff=1)
    return Image.merge("RGB", (gray, gray, gray))


def _look_vivid(img):
    return ImageEnhance.Contrast(ImageEnhance.Color(img).enhance(1.9)).enhance(1.35)


def _look_sepia(img):
    return ImageOps.colorize(ImageOps.grayscale(img), "#2b1a08", "#f3e2bf", mid="#a0784a")


def _look_vignette(img):
    w, h = img.size
    mask = Image.radial_gradient("L").resize((w, h), Image.BILINEAR)  # 0 centre .. 255 edges
    mask = mask.point(lambda v: max(0, min(255, int((v - 90) * 1.9))))
    dark = ImageEnhance.Brightness(img).enhance(0.18)
    return Image.composite(dark, img, mask)


def _look_mirror(img):
    return ImageOps.mirror(img)


def _zoom(img, factor: float, dx: float = 0.5, dy: float = 0.5):
    w, h = img.size
    cw, ch = max(1, int(w / factor)), max(1, int(h / factor))
    left, top = int((w - cw) * dx), int((h - ch) * dy)
    return img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.BICUBIC)


def _look_zoom(img):
    return _zoom(img, 1.25)


def _look_dreamy(img):
    soft = img.filter(ImageFilter.GaussianBlur(radius=max(2, img.size[0] // 200)))
    return ImageEnhance.Brightness(Image.blend(img, soft, 0.6)).enhance(1.12)


def _look_teal_orange(img):
    gray = ImageOps.grayscale(img)
    toned = ImageOps.colorize(gray, "#0b3a44", "#ffd3a0", mid="#c07a48")
    return Image.blend(img, toned, 0.55)


def _look_posterize(img):
    return ImageOps.posterize(img, 3)


def _look_sketch(img):
    gray = ImageOps.grayscale(img)
    edges = ImageOps.invert(gray.filter(ImageFilter.FIND_EDGES))
    edges = ImageOps.autocontrast(edges)
    return Image.merge("RGB", (edges, edges, edges))


LOOKS = (
    ("golden_hour", _look_golden_hour),
    ("cool_blue", _look_cool_blue),
    ("black_white", _look_black_white),
    ("vivid", _look_vivid),
    ("sepia", _look_sepia),
    ("vignette", _look_vignette),
    ("mirrored", _look_mirror),
    ("zoom_crop", _look_zoom),
    ("dreamy", _look_dreamy),
    ("teal_orange", _look_teal_orange),
    ("posterize", _look_posterize),
    ("sketch", _look_sketch),
)


def _synthetic_scene(width: int, height: int) -> Image.Image:
    """A photo-like stand-in for text-to-image requests without any source image."""
    small = Image.new("RGB", (320, 320 * height // max(1, width) or 1))
    sw, sh = small.size
    draw = ImageDraw.Draw(small)
    for y in range(sh):
        t = y / max(1, sh - 1)
        draw.line([(0, y), (sw, y)], fill=(int(90 + 120 * t), int(140 + 60 * t), int(220 - 80 * t)))
    draw.ellipse([sw * 0.6, sh * 0.15, sw * 0.8, sh * 0.15 + sw * 0.2], fill=(255, 226, 150))
    draw.polygon([(0, sh), (0, sh * 0.65), (sw * 0.35, sh * 0.45), (sw * 0.7, sh * 0.7), (sw, sh * 0.55), (sw, sh)],
                 fill=(46, 92, 60))
    noise = Image.effect_noise((sw, sh), 24).convert("RGB")
    small = ImageChops.add(small, noise, scale=1.0, offset=-128)
    return small.resize((width, height), Image.BICUBIC)


def render_series(sources: list[Image.Image], width: int, height: int, count: int) -> list[Image.Image]:
    """``count`` distinct edits of ``sources[0]`` cover-cropped to ``width``×``height``.

    Panel ``i`` gets look ``i % len(LOOKS)``; past the first round of looks a progressively tighter
    zoom crop is added so that every panel stays distinct. Extra sources are composed in as an
    inset picture (cycling through them)."""
    base = ImageOps.fit(sources[0], (width, height), Image.BICUBIC) if sources else _synthetic_scene(width, height)
    extras = sources[1:]
    panels = []
    for i in range(count):
        img = base
        rnd = i // len(LOOKS)
        if rnd:
            img = _zoom(img, 1.0 + 0.12 * rnd, dx=0.5 + 0.1 * ((-1) ** rnd), dy=0.45)
        if extras:
            inset_w = max(8, width * 3 // 10)
            inset_h = max(8, height * 3 // 10)
            inset = ImageOps.fit(extras[i % len(extras)], (inset_w, inset_h), Image.BICUBIC)
            border = max(2, width // 256)
            framed = ImageOps.expand(inset, border=border, fill=(255, 255, 255))
            img = img.copy()
            margin = max(4, width // 40)
            img.paste(framed, (width - framed.size[0] - margin, height - framed.size[1] - margin))
        panels.append(LOOKS[i % len(LOOKS)][1](img))
    return panels


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def png_header(width: int, height: int, total: int | None = None) -> bytes:
    """The PNG signature and IHDR; with ``total``, also the start of one IDAT chunk that fills a file of ``total``
    bytes: an image reader then takes the file for a ``width`` x ``height`` PNG (its pixels are never read)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    head = PNG_SIGNATURE + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    if total is None:
        return head
    return head + struct.pack(">I", max(0, total - len(head) - 12)) + b"IDAT"


def fetch_image(http: httpx.Client, url: str) -> Image.Image:
    """Download (at most ``MAX_INPUT_BYTES``) or decode a ``data:`` URL; an RGB image, EXIF-rotated.
    ``RuntimeError`` says why an input is unusable."""
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        data = base64.b64decode(payload) if header.endswith(";base64") else unquote(payload).encode("latin-1")
    else:
        with http.stream("GET", url) as resp:
            if resp.status_code // 100 != 2:
                raise RuntimeError(f"downloading {url[:200]} answered HTTP {resp.status_code}")
            buf = bytearray()
            for chunk in resp.iter_bytes():
                buf += chunk
                if len(buf) > MAX_INPUT_BYTES:
                    raise RuntimeError(f"image {url[:200]} is larger than {MAX_INPUT_BYTES} bytes")
            data = bytes(buf)
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:  # noqa: BLE001 - any decoder failure is an unusable input
        raise RuntimeError(f"image {url[:200]} could not be decoded: {exc}") from None
    img = ImageOps.exif_transpose(img)
    if img.mode != "RGB":
        img = img.convert("RGBA").convert("RGB") if img.mode in ("P", "LA", "RGBA") else img.convert("RGB")
    return img
