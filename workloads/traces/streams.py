"""Compression: reading and writing ``.zst``/``.zstd`` and ``.gz`` trace files transparently.

A compressed file is recognised by its magic bytes when read (whatever its name) and by
its suffix when written; it is decompressed on the fly, 64 KiB of input at a time.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import IO

from workloads.traces.errors import TraceError

_COMPRESSED = (".zst", ".zstd", ".gz")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_LEVEL = 6
_ZSTD_READ = 1 << 16  # compressed bytes per decompression step


def _open_raw(path: Path) -> IO[bytes]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as e:
        raise TraceError(f"{path}: cannot open: {e.strerror or e}") from None
    head = fh.peek(4)[:4]
    if head.startswith(_ZSTD_MAGIC):
        return _ZstdReader(fh)
    if head.startswith(_GZIP_MAGIC):
        fh.close()
        return gzip.open(path, "rb")  # (a GzipFile around fh would not close fh)
    return fh


class _ZstdReader(io.RawIOBase):
    """Streaming zstd decompression (several frames allowed) that fails on a truncated frame.

    (``zstandard``'s own stream reader silently returns what it has at a premature end.)
    """

    def __init__(self, fh: IO[bytes]):
        import zstandard

        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._pending = memoryview(b"")
        self._started = False
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._pending and not self._done:
            chunk = self._fh.read(_ZSTD_READ)  # small, so one step's output stays small
            if not chunk:
                self._done = True
                if self._started and not self._obj.eof:
                    raise OSError("truncated zstd stream (the last frame is incomplete)")
                break
            self._started = True
            out = self._obj.decompress(chunk)
            while self._obj.eof and self._obj.unused_data:  # a further frame
                rest = self._obj.unused_data
                self._obj = self._dctx.decompressobj()
                out += self._obj.decompress(rest)
            self._pending = memoryview(out)
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _read_exact(stream: IO[bytes], size: int, label: str) -> bytes:
    """Read up to ``size`` bytes (fewer only at the end of the stream)."""
    parts = []
    got = 0
    while got < size:
        try:
            data = stream.read(size - got)
        except Exception as e:  # zstd / gzip corruption
            raise TraceError(f"{label}: cannot decompress: {e}") from None
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _strip_compression(name: str) -> str:
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _open_out(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    if name.endswith((".zst", ".zstd")):
        import zstandard

        fh = open(path, "wb")  # noqa: SIM115 - closed by the stream writer
        return zstandard.ZstdCompressor(level=_ZSTD_LEVEL, threads=-1).stream_writer(fh, closefd=True)
    if name.endswith(".gz"):
        return gzip.open(path, "wb", compresslevel=6)
    return open(path, "wb")  # noqa: SIM115 - returned to the caller
