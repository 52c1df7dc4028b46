"""Owners' photos, pure (bytes in, bytes out): only JPEG and PNG, decoded and encoded again by Pillow.

Whatever the file held besides its pixels (EXIF: the phone's model, the time, the GPS position; PNG text
chunks) is dropped, unless the owner agreed to share where the photo was taken: then EXIF (with its GPS
position) is kept. The orientation is applied to the pixels first, so a photo is upright either way. A
file that is no image, or an image too large to decode safely, is refused with a reason a person reads.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
"""What owners may send, and what the stored photo is served as."""


class PhotoRefused(ValueError):
    """The upload is no JPEG or PNG photo facwatch takes; the message says why, for the owner."""


@dataclass(frozen=True, slots=True)
class CleanPhoto:
    data: bytes
    content_type: str
    width: int
    height: int
    location_kept: bool


def clean_photo(data: bytes, *, keep_location: bool, max_pixels: int, max_side: int) -> CleanPhoto:
    if not data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")):
        raise PhotoRefused("only JPEG or PNG photos can be sent")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise PhotoRefused("only JPEG or PNG photos can be sent")
            if image.width * image.height > max_pixels:
                raise PhotoRefused(f"the photo has too many pixels (at most {max_pixels:,})")
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombWarning) as exc:
        raise PhotoRefused("the file is not a readable JPEG or PNG photo") from exc
    except Image.DecompressionBombError as exc:
        raise PhotoRefused(f"the photo has too many pixels (at most {max_pixels:,})") from exc
    source_format = image.format
    upright = ImageOps.exif_transpose(image)
    exif = upright.getexif() if keep_location else None
    upright.thumbnail((max_side, max_side))
    out = io.BytesIO()
    if source_format == "PNG":
        if upright.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            upright = upright.convert("RGBA")
        upright.save(out, "PNG", optimize=True, **({"exif": exif} if exif else {}))
    else:
        if upright.mode != "RGB":
            upright = upright.convert("RGB")
        upright.save(out, "JPEG", quality=85, **({"exif": exif} if exif else {}))
    return CleanPhoto(
        data=out.getvalue(),
        content_type=FORMATS[source_format],
        width=upright.width,
        height=upright.height,
        location_kept=bool(exif) and keep_location,
    )
