"""Downloading a file with checksum verification, never leaving a partial file.

The file is streamed into a temporary file in the target folder while its MD5
is computed; it is renamed to its final name only when the MD5 matches the
published one. Any failure removes the temporary file and raises DataError.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path

from ebmlab.errors import DataError
from ebmlab.runtime.atomic import atomic_write

TIMEOUT_S = 10.0  # seconds without data before a download is abandoned
CHUNK = 1 << 20


def md5sum(path: str | Path) -> str:
    """Hex MD5 digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: str | Path, md5: str, timeout: float = TIMEOUT_S) -> Path:
    """Fetch ``url`` into ``dest`` if its MD5 equals ``md5``; raise DataError otherwise.

    The file is streamed into a temporary file that is renamed to ``dest`` only
    once its checksum matches (``ebmlab.runtime.atomic``): nothing half-downloaded is left.
    """
    dest = Path(dest)

    def fetch(out) -> None:
        digest = hashlib.md5()
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise DataError(
                f"download of {url} has MD5 {digest.hexdigest()}, expected {md5}; "
                "the mirror served a different or damaged file"
            )

    try:
        atomic_write(dest, fetch)
    except (OSError, ValueError, http.client.HTTPException) as err:  # URLError is an OSError
        plain = isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError)
        reason = err.reason if plain else err
        raise DataError(f"cannot download {url}: {reason}") from err
    return dest
