"""Stored files of the double: ids, image sizes and tiny sample payloads."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

# Real file ids start with a type-dependent prefix; keeping that makes logs look familiar.
_FILE_ID_PREFIX = {
    "photo": "AgACAgEAAxkBAAI",
    "document": "BQACAgEAAxkBAAI",
    "sticker": "CAACAgEAAxkBAAI",
    "voice": "AwACAgEAAxkBAAI",
}
_FOLDERS = {"photo": "photos", "document": "documents", "sticker": "stickers", "voice": "voice"}
_DEFAULT_EXT = {"photo": ".jpg", "sticker": ".webp", "voice": ".oga", "document": ""}
PHOTO_BOUNDS = (90, 320, 800, 1280, 2560)


@dataclass
class StoredFile:
    """Hold one file the double knows, with the ids Telegram would give it."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes = field(repr=False)
    filename: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    file_path: str | None = None
    group: list[str] = field(default_factory=list, repr=False)

    def photo_size(self) -> dict[str, Any]:
        """Return this file as a PhotoSize object."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width or 0,
            "height": self.height or 0,
            "file_size": len(self.data),
        }

    def document(self) -> dict[str, Any]:
        """Return this file as a Document object."""
        out: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.filename:
            out["file_name"] = self.filename
        if self.mime_type:
            out["mime_type"] = self.mime_type
        return out


class FileStore:
    """Issue file ids and keep the bytes behind them."""

    def __init__(self, salt: str) -> None:
        self._salt = salt
        self._seq = 0
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}

    def add(self, kind: str, data: bytes, **extra: Any) -> StoredFile:
        """Store bytes under fresh file ids and return the record."""
        self._seq += 1
        digest = hashlib.sha256(f"{self._salt}:{kind}:{self._seq}".encode()).digest()
        packed = struct.pack(">I", self._seq) + digest[:30]
        file_id = _FILE_ID_PREFIX.get(kind, "BQACAgEAAxkBAAI") + _b64(packed)
        unique = "AQAD" + _b64(struct.pack(">I", self._seq) + digest[30:32])
        stored = StoredFile(file_id, unique, kind, data, **extra)
        self.by_id[file_id] = stored
        return stored

    def add_photo(self, data: bytes, width: int, height: int) -> list[StoredFile]:
        """Store a photo the way Telegram does: one PhotoSize per size bound."""
        sizes: list[StoredFile] = []
        for bound in PHOTO_BOUNDS:
            if max(width, height) <= bound:
                sizes.append(self.add("photo", data, width=width, height=height))
                break
            scale = bound / max(width, height)
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
            sizes.append(self.add("photo", data, width=w, height=h))
        group = [s.file_id for s in sizes]
        for size in sizes:
            size.group = group
        return sizes

    def path_for(self, stored: StoredFile) -> str:
        """Return (assigning on first use) the download path of a file."""
        if stored.file_path is None:
            ext = _DEFAULT_EXT.get(stored.kind, "")
            if stored.filename and "." in stored.filename:
                ext = "." + stored.filename.rsplit(".", 1)[1].lower()
            folder = _FOLDERS.get(stored.kind, "documents")
            stored.file_path = f"{folder}/file_{len(self.by_path)}{ext}"
            self.by_path[stored.file_path] = stored
        return stored.file_path


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def guess_mime(filename: str | None, declared: str | None) -> str:
    """Return a MIME type for an upload, preferring a specific declared one."""
    if declared and declared != "application/octet-stream":
        return declared
    guessed = mimetypes.guess_type(filename or "")[0]
    return guessed or "application/octet-stream"


def image_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) of PNG, JPEG, GIF, BMP or WebP data, None if not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(int(width)), abs(int(height))
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the dimensions.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def sample_png(width: int = 64, height: int = 48) -> bytes:
    """Return a valid grey PNG of the given size (for user photos in tests)."""
    row = b"\x00" + b"\x80" * width
    raw = zlib.compress(row * height)

    def chunk(tag: bytes, body: bytes) -> bytes:
        """Frame one PNG chunk with its length and CRC."""
        return (
            struct.pack(">I", len(body))
            + tag
            + body
            + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def sample_webp(size: int = 512) -> bytes:
    """Return a minimal VP8X WebP header of the given size (for stickers)."""
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (size - 1).to_bytes(3, "little") + (size - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def sample_ogg(seconds: int = 2) -> bytes:
    """Return placeholder Ogg bytes for voice notes."""
    return b"OggS" + b"\x00" * (64 * max(1, seconds))
