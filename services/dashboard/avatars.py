"""Agents' avatars: an upload checked from its bytes (PNG, JPEG, WebP or GIF, at most
MAX_BYTES, at most MAX_PIXELS before decoding) and re-encoded to a SIZE×SIZE PNG, centre
cropped. The uploaded bytes are never stored nor served."""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any
from urllib.parse import quote

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 2 * 1024 * 1024
SIZE = 128
MAX_PIXELS = 25_000_000  # 5000×5000: a photo, not a decompression bomb
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")


class Refused(ValueError):
    """The upload is not an image we take; the message is for the agent."""


def reencode(data: bytes) -> bytes:
    """The upload as a SIZE×SIZE PNG, or Refused. CPU-bound: call it in a thread."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                _check_header(image)
                square = _square(image)
    except Refused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused("Upload a PNG, JPEG, WebP or GIF image.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise Refused("This image is damaged; upload another one.") from None
    out = io.BytesIO()
    square.save(out, "PNG", optimize=True)
    return out.getvalue()


def version_of(png: bytes) -> str:
    """A short hash of the stored PNG: a new avatar gets a new URL."""
    return hashlib.sha256(png).hexdigest()[:12]


def _check_header(image: Image.Image) -> None:
    """Only the header is read so far: refuse what is too large before decoding it."""
    if image.format not in FORMATS:
        raise Refused("Upload a PNG, JPEG, WebP or GIF image.")
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise Refused("This image has too many pixels; upload one under 5000×5000.")


def _square(image: Image.Image) -> Image.Image:
    if image.format == "JPEG":
        image.draft("RGB", (SIZE * 2, SIZE * 2))  # decode a JPEG at a fraction of its size
    upright = ImageOps.exif_transpose(image) or image
    rgba = upright.convert("RGBA")  # the first frame of a GIF
    return ImageOps.fit(rgba, (SIZE, SIZE), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


# a version's bytes never change: the URL changes with them
SERVED_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


def url_of(agent: dict[str, Any] | None) -> str | None:
    """The agent's avatar URL, or None when they have none (the initials stand in)."""
    version = (agent or {}).get("avatar_version")
    if not version or not agent:
        return None
    return f"/avatars/{quote(str(agent['_id']), safe='')}/{version}.png"
