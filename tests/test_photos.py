"""Photo intake: decoding decides the type, uploads leave without metadata, GPS and time are read
from the original, bad uploads are refused by name, and attachments round-trip through the store
(content-addressed files, one ledger event each, tampering detected on read)."""

from __future__ import annotations

import dataclasses
import io
import json
import random
import struct
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from gridmgr.cases import Actor, Role
from gridmgr.errors import (
    AttachmentIntegrityError,
    AttachmentNotFoundError,
    CaseNotFoundError,
    GridMgrError,
)
from gridmgr.intake.photos import (
    MAX_PHOTO_BYTES,
    MAX_SIDE,
    Photo,
    PhotoError,
    PhotoTooLargeError,
    UnsupportedPhotoError,
    distance_m,
    is_far_from,
    sanitize_photo,
)
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.reports import report_incident
from gridmgr.store import Store
from tests.builders import tiny_context

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)
SITE = (120.0625, 31.5625)  # the reported place, inside the tiny grid
# 33°51'54.23" S, 151°12'36.5" W written as rationals: a position with both negative refs.
SOUTH_WEST = (-(151 + 12 / 60 + 36.5 / 3600), -(33 + 51 / 60 + 54.23 / 3600))


# -- builders -----------------------------------------------------------------------------------


def noise(size: tuple[int, int], *, seed: int = 1) -> Image.Image:
    """An RGB image of random pixels (they do not compress, so files have real bodies)."""
    rng = random.Random(seed)
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def dms(degrees: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    whole = int(degrees)
    minutes = int((degrees - whole) * 60)
    seconds = (degrees - whole - minutes / 60) * 3600
    return IFDRational(whole), IFDRational(minutes), IFDRational(round(seconds * 10_000), 10_000)


def exif_with(
    *,
    lonlat: tuple[float, float] | None = None,
    orientation: int | None = None,
    taken: str | None = None,
    offset: str | None = None,
    gps_extra: dict[int, object] | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if lonlat is not None:
        lon, lat = lonlat
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "S" if lat < 0 else "N",
            ExifTags.GPS.GPSLatitude: dms(abs(lat)),
            ExifTags.GPS.GPSLongitudeRef: "W" if lon < 0 else "E",
            ExifTags.GPS.GPSLongitude: dms(abs(lon)),
            **(gps_extra or {}),
        }
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    if taken is not None:
        sub[ExifTags.Base.DateTimeOriginal] = taken
    if offset is not None:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    return exif


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def jpeg_from(
    lonlat: tuple[float, float] | None = SITE,
    *,
    orientation: int | None = None,
    taken: str | None = None,
    offset: str | None = None,
) -> bytes:
    """A 64 x 48 JPEG with EXIF (GPS at ``lonlat``), an ICC profile and a comment."""
    return encoded(
        noise((64, 48)),
        "JPEG",
        exif=exif_with(lonlat=lonlat, orientation=orientation, taken=taken, offset=offset),
        comment=b"Xiaomi 14 secret comment",
        icc_profile=_srgb_icc(),
    )


def _srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG declaring ``width`` x ``height`` 1-bit pixels: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)  # the first rows; the rest would inflate on decode
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# -- sanitize_photo -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_gps_is_read_from_the_exif_of_each_allowed_format(fmt: str) -> None:
    data = encoded(noise((32, 32)), fmt, exif=exif_with(lonlat=SITE))
    photo = sanitize_photo(data)
    assert photo.original_format == fmt
    assert photo.gps is not None
    assert photo.gps == pytest.approx(SITE, abs=1e-5)


def test_gps_south_and_west_refs_make_negative_coordinates() -> None:
    photo = sanitize_photo(jpeg_from(SOUTH_WEST))
    assert photo.gps is not None
    assert photo.gps == pytest.approx(SOUTH_WEST, abs=1e-5)


@pytest.mark.parametrize(
    ("lonlat", "gps_extra"),
    [
        pytest.param(SITE, {ExifTags.GPS.GPSStatus: "V"}, id="void-fix"),
        pytest.param((0.0, 0.0), {}, id="null-island"),
        pytest.param(SITE, {ExifTags.GPS.GPSLatitudeRef: "X"}, id="bad-ref"),
        pytest.param(SITE, {ExifTags.GPS.GPSLatitude: (IFDRational(95), 0, 0)}, id="lat-95"),
        pytest.param(None, {}, id="no-gps-ifd"),
    ],
)
def test_unusable_gps_gives_no_position_but_keeps_the_photo(
    lonlat: tuple[float, float] | None, gps_extra: dict[int, object]
) -> None:
    data = encoded(noise((16, 16)), "JPEG", exif=exif_with(lonlat=lonlat, gps_extra=gps_extra))
    photo = sanitize_photo(data)
    assert photo.gps is None
    assert photo.width == 16


def test_output_carries_no_exif_icc_or_comment() -> None:
    original = jpeg_from(SITE, taken="2026:05:06 09:01:02", orientation=1)
    assert b"Exif" in original
    assert b"ICC_PROFILE" in original
    photo = sanitize_photo(original)
    out = Image.open(io.BytesIO(photo.data))
    assert out.format == "JPEG"
    assert len(out.getexif()) == 0
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(out.info)
    for marker in (b"Exif", b"ICC_PROFILE", b"http://ns.adobe.com/xap", b"secret", b"GPS"):
        assert marker not in photo.data


def test_output_is_a_jpeg_whose_hash_and_size_are_recorded() -> None:
    import hashlib

    photo = sanitize_photo(encoded(noise((50, 30)), "PNG"))
    assert photo.data.startswith(b"\xff\xd8\xff")
    assert photo.content_type == "image/jpeg"
    assert photo.sha256 == hashlib.sha256(photo.data).hexdigest()
    assert (photo.width, photo.height) == Image.open(io.BytesIO(photo.data)).size == (50, 30)
    assert "data" not in repr(photo)


def test_exif_orientation_is_applied_so_width_and_height_swap() -> None:
    data = encoded(noise((40, 20)), "JPEG", exif=exif_with(orientation=6))
    photo = sanitize_photo(data)
    assert (photo.width, photo.height) == (20, 40)


def test_long_side_is_scaled_down_to_max_side() -> None:
    photo = sanitize_photo(encoded(Image.new("RGB", (3000, 1000), "navy"), "PNG"))
    assert (photo.width, photo.height) == (MAX_SIDE, 853)


def test_transparency_is_flattened_onto_white() -> None:
    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    photo = sanitize_photo(encoded(clear, "PNG"))
    r, g, b = Image.open(io.BytesIO(photo.data)).convert("RGB").getpixel((4, 4))  # type: ignore[misc]
    assert min(r, g, b) > 245


def _transparent_palette() -> Image.Image:
    image = Image.new("P", (10, 10))
    image.info["transparency"] = 0
    return image


@pytest.mark.parametrize(
    ("image", "fmt", "params", "pixel"),
    [
        pytest.param(Image.new("CMYK", (10, 10), (0, 255, 255, 0)), "JPEG", {}, (254, 0, 0),
                     id="cmyk-jpeg"),
        pytest.param(Image.new("I;16", (10, 10), 30_000), "PNG", {}, (117, 117, 117),
                     id="16-bit-grey-png-scaled-not-clipped"),
        pytest.param(_transparent_palette(), "PNG", {}, (255, 255, 255), id="palette-png"),
        pytest.param(Image.new("RGB", (10, 10), "blue"), "JPEG",
                     {"icc_profile": b"not a profile" * 20}, (0, 0, 254), id="broken-icc"),
        pytest.param(Image.new("RGB", (10, 10), "blue"), "WEBP",
                     {"save_all": True, "append_images": [Image.new("RGB", (10, 10), "red")],
                      "lossless": True},
                     (0, 0, 254), id="animated-webp-keeps-first-frame"),
    ],
)  # fmt: skip
def test_odd_but_valid_images_become_plain_rgb_jpegs(
    image: Image.Image, fmt: str, params: dict[str, object], pixel: tuple[int, int, int]
) -> None:
    photo = sanitize_photo(encoded(image, fmt, **params))
    out = Image.open(io.BytesIO(photo.data))
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == pytest.approx(pixel, abs=3)


def test_taken_at_is_aware_with_an_offset_and_naive_without() -> None:
    aware = sanitize_photo(jpeg_from(taken="2026:05:06 09:01:02", offset="+08:00"))
    naive = sanitize_photo(jpeg_from(taken="2026:05:06 09:01:02"))
    blank = sanitize_photo(jpeg_from(taken="0000:00:00 00:00:00"))
    assert aware.taken_at == datetime(2026, 5, 6, 9, 1, 2, tzinfo=timezone(timedelta(hours=8)))
    assert naive.taken_at == datetime(2026, 5, 6, 9, 1, 2)
    assert naive.taken_at.tzinfo is None
    assert blank.taken_at is None


def _truncated_jpeg() -> bytes:
    data = encoded(noise((200, 200)), "JPEG", quality=95)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        pytest.param(b"", PhotoError, "empty", id="empty"),
        pytest.param(b"just some notes\nnot a photo\n", UnsupportedPhotoError, "not an image",
                     id="text-named-jpg"),
        pytest.param(_truncated_jpeg(), PhotoError, "truncated", id="truncated-jpeg"),
        pytest.param(b"\xff\xd8\xff\xe0garbage" * 4, PhotoError, "corrupt", id="garbage-jpeg"),
        pytest.param(encoded(noise((8, 8)), "GIF"), UnsupportedPhotoError, "GIF", id="gif"),
        pytest.param(encoded(noise((8, 8)), "BMP"), UnsupportedPhotoError, "BMP", id="bmp"),
        pytest.param(encoded(noise((8, 8)), "TIFF"), UnsupportedPhotoError, "TIFF", id="tiff"),
        pytest.param(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
                     UnsupportedPhotoError, "HEIC", id="heic"),
        pytest.param(png_header_only(20_000, 20_000), PhotoTooLargeError, "decompression bomb",
                     id="bomb-400-mpx-error"),
        pytest.param(png_header_only(10_000, 10_000), PhotoTooLargeError, "decompression bomb",
                     id="bomb-100-mpx-warning"),
        pytest.param(png_header_only(7_000, 7_000), PhotoTooLargeError, "49,000,000 pixels",
                     id="over-max-pixels"),
    ],
)  # fmt: skip
def test_bad_upload_is_refused_with_a_message_naming_the_problem(
    data: bytes, error: type[PhotoError], words: str
) -> None:
    with pytest.raises(error, match=words) as caught:
        sanitize_photo(data)
    assert isinstance(caught.value, GridMgrError)
    assert isinstance(caught.value, ValueError)


def test_oversized_body_is_refused_before_decoding() -> None:
    data = b"\xff\xd8\xff" + bytes(MAX_PHOTO_BYTES)
    with pytest.raises(PhotoTooLargeError, match=r"10,485,7\d\d bytes.*lower resolution"):
        sanitize_photo(data)


# -- distances ----------------------------------------------------------------------------------


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert distance_m((120.0, 31.0), (120.0, 32.0)) == pytest.approx(111_195, abs=1)
    assert distance_m(SITE, SITE) == 0.0


def test_is_far_from_flags_only_photos_with_a_distant_position() -> None:
    photo = sanitize_photo(jpeg_from(SITE))
    no_gps = dataclasses.replace(photo, gps=None)
    lon, lat = SITE
    assert not is_far_from(photo, lon, lat)
    assert not is_far_from(photo, lon, lat + 0.004)  # ~445 m north
    assert is_far_from(photo, lon, lat + 0.005)  # ~556 m north
    assert is_far_from(photo, lon, lat + 0.004, limit_m=100.0)
    assert not is_far_from(no_gps, lon + 1.0, lat)


# -- the attachment store -----------------------------------------------------------------------


def _case(store: Store) -> str:
    lon, lat = SITE
    return report_incident(
        store,
        tiny_context(),
        reporter=Actor("op-1", Role.OPERATOR),
        category="street_vending",
        at=AT,
        description="x",
        lon=lon,
        lat=lat,
    ).case.case_id


def _files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "attachments").rglob("*") if p.is_file())


def test_saved_photo_round_trips_with_its_ledger_event(store: Store, tmp_path: Path) -> None:
    case_id = _case(store)
    photo = sanitize_photo(jpeg_from(SITE))
    row = store.save_attachment(tmp_path, case_id, photo, at=AT, actor="op-1")
    assert row.path == f"attachments/{photo.sha256[:2]}/{photo.sha256}.jpg"
    assert (tmp_path / row.path).read_bytes() == photo.data
    assert store.attachments_of(case_id) == [row]
    read_row, data = store.read_attachment(tmp_path, row.attachment_id)
    assert (read_row, data) == (row, photo.data)
    assert read_row.gps == pytest.approx(SITE, abs=1e-5)
    assert (read_row.width, read_row.height, read_row.size_bytes) == (64, 48, len(photo.data))
    assert store.verify_ledger().ok
    head = store.ledger_head()
    assert head is not None
    assert (head.kind, head.actor, head.subject) == ("case.photo", "op-1", f"case:{case_id}")
    details = json.loads(head.payload)
    assert details["attachment_id"] == row.attachment_id
    assert details["sha256"] == photo.sha256
    assert (details["has_gps"], details["gps_far"], details["gps_distance_m"]) == (True, False, 0)


def test_photo_far_from_the_case_is_flagged_in_the_ledger(store: Store, tmp_path: Path) -> None:
    case_id = _case(store)
    photo = sanitize_photo(jpeg_from((SITE[0], SITE[1] + 0.01)))  # ~1.1 km north
    store.save_attachment(tmp_path, case_id, photo, at=AT, actor="op-1")
    head = store.ledger_head()
    assert head is not None
    details = json.loads(head.payload)
    assert details["gps_far"] is True
    assert details["gps_distance_m"] == pytest.approx(1112, abs=2)
    assert not {"gps_lon", "gps_lat", "lon", "lat"} & set(details)


def test_identical_photos_share_one_file(store: Store, tmp_path: Path) -> None:
    case_id = _case(store)
    photo = sanitize_photo(jpeg_from(SITE))
    first = store.save_attachment(tmp_path, case_id, photo, at=AT, actor="op-1")
    second = store.save_attachment(
        tmp_path, case_id, photo, at=AT + timedelta(minutes=1), actor="op-2"
    )
    assert first.attachment_id != second.attachment_id
    assert first.path == second.path
    assert _files(tmp_path) == [tmp_path / first.path]  # and no temporary file left behind
    assert [r.attachment_id for r in store.attachments_of(case_id)] == [
        first.attachment_id,
        second.attachment_id,
    ]
    assert store.verify_ledger().ok


def test_tampered_file_is_detected_on_read(store: Store, tmp_path: Path) -> None:
    case_id = _case(store)
    row = store.save_attachment(
        tmp_path, case_id, sanitize_photo(jpeg_from(SITE)), at=AT, actor="op-1"
    )
    path = tmp_path / row.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(AttachmentIntegrityError, match="changed on disk"):
        store.read_attachment(tmp_path, row.attachment_id)


def test_damaged_file_is_replaced_when_the_same_photo_is_saved_again(
    store: Store, tmp_path: Path
) -> None:
    case_id = _case(store)
    photo = sanitize_photo(jpeg_from(SITE))
    row = store.save_attachment(tmp_path, case_id, photo, at=AT, actor="op-1")
    (tmp_path / row.path).write_bytes(b"damaged")
    store.save_attachment(tmp_path, case_id, photo, at=AT, actor="op-1")
    assert store.read_attachment(tmp_path, row.attachment_id)[1] == photo.data


def test_photo_for_an_unknown_case_is_refused_and_no_file_is_written(
    store: Store, tmp_path: Path
) -> None:
    photo = sanitize_photo(jpeg_from(SITE))
    with pytest.raises(CaseNotFoundError):
        store.save_attachment(tmp_path, "0" * 32, photo, at=AT, actor="op-1")
    assert not (tmp_path / "attachments").exists()
    with pytest.raises(CaseNotFoundError):
        store.attachments_of("0" * 32)


def test_unknown_or_malformed_attachment_id_is_not_found(store: Store, tmp_path: Path) -> None:
    with pytest.raises(AttachmentNotFoundError, match="no attachment"):
        store.read_attachment(tmp_path, "f" * 32)
    with pytest.raises(AttachmentNotFoundError, match="32 lower-case hex"):
        store.read_attachment(tmp_path, "../../etc/passwd")


def test_photo_whose_hash_does_not_match_its_data_is_refused(store: Store, tmp_path: Path) -> None:
    case_id = _case(store)
    forged: Photo = dataclasses.replace(sanitize_photo(jpeg_from(SITE)), data=b"raw upload")
    with pytest.raises(PhotoError, match="sanitize_photo"):
        store.save_attachment(tmp_path, case_id, forged, at=AT, actor="op-1")
    assert not (tmp_path / "attachments").exists()
