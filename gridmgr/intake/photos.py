"""Photos of incident reports: check an upload by decoding it, re-encode it without metadata.

Everything here is pure (bytes in, values out). :func:`sanitize_photo` is the only way a photo
enters gridmgr: it decodes the upload with Pillow (the bytes decide the type, never a file name
or a declared content type), refuses what is not a JPEG, PNG or WEBP image of sane size, reads
the GPS position and the capture time from the original's EXIF, applies the EXIF orientation and
re-encodes the pixels as a fresh JPEG that carries no EXIF, ICC, XMP or comment, so no metadata a
phone wrote ever leaves the server.

GPS positions are taken as WGS84: EXIF GPS is WGS84 by specification, and phones sold in China
write WGS84 there too (GCJ-02 is applied by map apps, not by the camera).
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Final

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from gridmgr.errors import GridMgrError

__all__ = [
    "ALLOWED_FORMATS",
    "JPEG_QUALITY",
    "MAX_PHOTO_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "Photo",
    "PhotoError",
    "PhotoTooLargeError",
    "UnsupportedPhotoError",
    "distance_m",
    "is_far_from",
    "sanitize_photo",
]

MAX_PHOTO_BYTES: Final = 10 * 1024 * 1024
"""The largest upload accepted, in bytes."""

MAX_PIXELS: Final = 40_000_000
"""The most pixels (width x height, as the file declares them) a photo may have."""

MAX_SIDE: Final = 2560
"""Stored photos are scaled down so that their long side is at most this many pixels."""

JPEG_QUALITY: Final = 85

ALLOWED_FORMATS: Final = ("JPEG", "PNG", "WEBP")
"""Pillow format names accepted; the decoder is chosen among these only."""

EARTH_RADIUS_M: Final = 6_371_008.8
"""The mean Earth radius (IUGG), for haversine distances."""

_WHITE = (255, 255, 255, 255)


class PhotoError(GridMgrError, ValueError):
    """An upload is not a usable photo (empty, too large, not an image, corrupt, wrong format)."""


class PhotoTooLargeError(PhotoError):
    """An upload has too many bytes or too many pixels."""


class UnsupportedPhotoError(PhotoError):
    """An upload is a decodable file of a type gridmgr does not accept (GIF, BMP, HEIC …)."""


@dataclass(frozen=True)
class Photo:
    """A sanitized photo: a JPEG without metadata, and what was read from the original's EXIF.

    Attributes
    ----------
    data
        The re-encoded JPEG (no EXIF, ICC, XMP or comment).
    sha256
        Hex SHA-256 of ``data``: the photo's identity in the attachment store.
    width, height
        Pixel size of ``data``, after orientation and downscaling.
    original_format
        Pillow's name of the uploaded format: ``"JPEG"``, ``"PNG"`` or ``"WEBP"``.
    gps
        ``(lon, lat)`` in WGS84 from the original's EXIF GPS IFD, or ``None`` when it had none,
        or an unusable one (void fix, missing hemisphere, out of range, exactly 0/0).
    taken_at
        EXIF ``DateTimeOriginal``. Aware when the EXIF also has ``OffsetTimeOriginal``; naive
        otherwise, because the camera's clock zone is then unknown (a phone may have travelled):
        callers must not take a naive value as UTC, nor as Beijing time, without saying so.
    content_type
        Always ``"image/jpeg"``.
    """

    data: bytes = field(repr=False)
    sha256: str
    width: int
    height: int
    original_format: str
    gps: tuple[float, float] | None
    taken_at: datetime | None
    content_type: str = "image/jpeg"

    @property
    def size_bytes(self) -> int:
        """Length of ``data`` in bytes."""
        return len(self.data)


def sanitize_photo(data: bytes) -> Photo:
    """Check an upload by decoding it and re-encode it as a JPEG with no metadata.

    The image is decoded in full (a truncated file fails here, not later), turned upright by its
    EXIF orientation, flattened onto white if it has transparency, converted to sRGB when it
    carries an ICC profile, scaled down to a long side of at most :data:`MAX_SIDE` and encoded
    as JPEG quality :data:`JPEG_QUALITY`. Animated images keep their first frame.

    Parameters
    ----------
    data
        The uploaded bytes, as received.

    Returns
    -------
    Photo
        The re-encoded photo, with the GPS position and capture time of the original.

    Raises
    ------
    PhotoTooLargeError
        More than :data:`MAX_PHOTO_BYTES` bytes, or more than :data:`MAX_PIXELS` pixels.
    UnsupportedPhotoError
        Not a JPEG, PNG or WEBP image (HEIC, GIF, BMP, TIFF, PDF, text …).
    PhotoError
        Empty, truncated or corrupt.
    """
    if not data:
        raise PhotoError("the photo is empty (0 bytes); attach the image file itself")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoTooLargeError(
            f"the photo has {len(data):,} bytes, more than the {MAX_PHOTO_BYTES:,} allowed; "
            "send it at a lower resolution or quality"
        )
    image = _decode(data)
    try:
        original_format = str(image.format)
        exif = _read_exif(image)
        pixels = _to_srgb(_flatten(_upright(image)))
    finally:
        image.close()
    pixels.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    # A fresh image has an empty ``info``: nothing of the original (EXIF, ICC, XMP, comment,
    # dpi) can reach the encoder, whatever Pillow's defaults for carrying it over may become.
    clean = Image.frombytes("RGB", pixels.size, pixels.tobytes())
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    encoded = out.getvalue()
    return Photo(
        data=encoded,
        sha256=hashlib.sha256(encoded).hexdigest(),
        width=clean.width,
        height=clean.height,
        original_format=original_format,
        gps=_gps(exif),
        taken_at=_taken_at(exif),
    )


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance in metres between two ``(lon, lat)`` points in degrees.

    >>> distance_m((120.0, 31.5), (120.0, 31.5))
    0.0
    >>> round(distance_m((0.0, 0.0), (0.0, 1.0)))
    111195
    """
    lon1, lat1 = map(math.radians, a)
    lon2, lat2 = map(math.radians, b)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def is_far_from(photo: Photo, lon: float, lat: float, *, limit_m: float = 500.0) -> bool:
    """Whether ``photo`` was taken more than ``limit_m`` metres from ``(lon, lat)`` (WGS84).

    ``False`` when the photo has no GPS position: absence of evidence is not a flag. A stale
    phone fix can be off by a lot, so this marks a photo for review, it proves nothing.
    """
    return photo.gps is not None and distance_m(photo.gps, (lon, lat)) > limit_m


# -- decoding -----------------------------------------------------------------------------------


def _decode(data: bytes) -> Image.Image:
    """The fully decoded image, or a :class:`PhotoError` saying what is wrong with ``data``."""
    with warnings.catch_warnings():
        # Pillow warns above ~89 Mpx and raises above twice that; a warning is a refusal here.
        # (The filter is process-wide and not thread-safe, so MAX_PIXELS below, which is lower
        # than Pillow's threshold, is the check that always holds.)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # Only the allowed decoders are tried: no other plugin ever parses an upload.
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except UnidentifiedImageError as exc:
            raise _unidentified(data) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PhotoTooLargeError(
                f"the photo declares too many pixels to decode safely ({exc}); "
                f"send one of at most {MAX_PIXELS:,} pixels"
            ) from exc
        except Exception as exc:
            # Hostile headers make Pillow raise many kinds of errors; all mean "not a photo".
            raise PhotoError(
                f"the photo's header cannot be read ({type(exc).__name__}: {exc}); "
                "the file is corrupt, send the original again"
            ) from exc
        width, height = image.size
        if width * height > MAX_PIXELS:
            image.close()
            raise PhotoTooLargeError(
                f"the photo is {width} x {height} = {width * height:,} pixels, more than the "
                f"{MAX_PIXELS:,} allowed; send it at a lower resolution"
            )
        if image.format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale when that still leaves MAX_SIDE on both sides.
            image.draft(None, (MAX_SIDE, MAX_SIDE))
        try:
            image.load()
        except Exception as exc:
            image.close()
            raise PhotoError(
                f"the {image.format} photo is truncated or corrupt ({exc}); "
                "send the whole original file again"
            ) from exc
    return image


_SIGNATURES: Final = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"PK\x03\x04", "a ZIP archive"),
)
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1"})


def _unidentified(data: bytes) -> PhotoError:
    """The error for bytes no allowed decoder recognizes, naming what they look like."""
    accepted = "JPEG, PNG or WEBP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _HEIF_BRANDS:
            return UnsupportedPhotoError(
                "the photo is HEIC/HEIF, which gridmgr does not accept; set the phone's camera "
                f"to 'Most Compatible' (JPEG) or convert the photo to {accepted}"
            )
        if brand in (b"avif", b"avis"):
            return UnsupportedPhotoError(f"the photo is AVIF; convert it to {accepted}")
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            return UnsupportedPhotoError(f"the file is {what}, not a photo; send {accepted}")
    for magic, name in ((b"\xff\xd8", "JPEG"), (b"\x89PNG", "PNG"), (b"RIFF", "WEBP")):
        if data.startswith(magic):
            return PhotoError(
                f"the file starts like a {name} but cannot be decoded as one; it is corrupt, "
                "send the original again"
            )
    return UnsupportedPhotoError(
        f"the file is not an image (its first bytes are {data[:8].hex(' ')}); "
        f"whatever its name says, attach a {accepted} photo"
    )


# -- pixels -------------------------------------------------------------------------------------


def _upright(image: Image.Image) -> Image.Image:
    """``image`` turned by its EXIF orientation tag (a copy; a no-op copy when it has none)."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        # A broken orientation tag is not worth refusing the photo for: keep it as stored.
        return image.copy()


def _flatten(image: Image.Image) -> Image.Image:
    """``image`` without alpha (composited on white) and with 8-bit channels."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit greyscale PNG: scale to 8 bits (a plain convert would clip to white).
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in image.info
    if not has_alpha:
        return image
    icc = image.info.get("icc_profile")
    background = Image.new("RGBA", image.size, _WHITE)
    background.alpha_composite(image.convert("RGBA"))
    flat = background.convert("RGB")
    if icc and image.mode in ("RGBA", "RGBa"):
        flat.info["icc_profile"] = icc
    return flat


def _to_srgb(image: Image.Image) -> Image.Image:
    """``image`` in RGB; its colours converted to sRGB when it carries an ICC profile.

    The profile is dropped from the output, so without this conversion a wide-gamut (Display
    P3) or CMYK photo would look washed out or wrong.
    """
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "CMYK", "L"):
        converted = _icc_to_srgb(image, icc)
        if converted is not None:
            return converted
    return image if image.mode == "RGB" else image.convert("RGB")


def _icc_to_srgb(image: Image.Image, icc: bytes) -> Image.Image | None:
    """``image`` converted from its ``icc`` profile to sRGB, or ``None`` if that cannot be done."""
    try:
        from PIL import ImageCms
    except ImportError:  # pragma: no cover - Pillow built without LittleCMS
        return None
    try:
        return ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken profile, or one that does not fit the image's mode: the caller falls back
        # to a plain conversion, the best guess left.
        return None


# -- metadata -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Exif:
    gps: Mapping[int, object]
    exif: Mapping[int, object]


def _read_exif(image: Image.Image) -> _Exif:
    """The GPS and Exif IFDs of ``image`` (empty when absent or unreadable)."""
    try:
        tags = image.getexif()
        return _Exif(
            gps=dict(tags.get_ifd(ExifTags.IFD.GPSInfo)),
            exif=dict(tags.get_ifd(ExifTags.IFD.Exif)),
        )
    except Exception:
        # Malformed EXIF is common (editors, messaging apps); it costs the metadata only.
        return _Exif(gps={}, exif={})


def _gps(tags: _Exif) -> tuple[float, float] | None:
    """``(lon, lat)`` from the GPS IFD, or ``None`` when it is absent, void or implausible."""
    gps = tags.gps
    if _text(gps.get(ExifTags.GPS.GPSStatus)) == "V":  # "void": the receiver had no fix
        return None
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude))
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude))
    lat_ref = _text(gps.get(ExifTags.GPS.GPSLatitudeRef))
    lon_ref = _text(gps.get(ExifTags.GPS.GPSLongitudeRef))
    if lat is None or lon is None or lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
        return None
    lat = -lat if lat_ref == "S" else lat
    lon = -lon if lon_ref == "W" else lon
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
        return None  # 0/0 is what cameras without a fix write, not a place in the Gulf of Guinea
    return lon, lat


def _degrees(value: object) -> float | None:
    """Degrees from an EXIF (degrees, minutes, seconds) triple of rationals."""
    parts = value if isinstance(value, tuple | list) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    try:
        numbers = [float(p) for p in parts]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(n) and n >= 0 for n in numbers):
        return None
    return math.fsum(n / 60**i for i, n in enumerate(numbers))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\x00 ").upper() if value is not None else ""


_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


def _taken_at(tags: _Exif) -> datetime | None:
    """``DateTimeOriginal``, aware when ``OffsetTimeOriginal`` is present, else naive."""
    raw = _text(tags.exif.get(ExifTags.Base.DateTimeOriginal))
    try:
        taken = datetime.strptime(raw, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None  # absent, blank or "0000:00:00 00:00:00"
    match = _OFFSET.fullmatch(_text(tags.exif.get(ExifTags.Base.OffsetTimeOriginal)))
    if match is None:
        return taken
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    if offset >= timedelta(hours=24):
        return taken
    return taken.replace(tzinfo=timezone(-offset if sign == "-" else offset))
