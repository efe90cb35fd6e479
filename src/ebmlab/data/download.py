"""Downloading a file with checksum verification, never leaving a partial file.

The file is streamed into a temporary file in the target folder while its MD5
is computed; it is renamed to its final name only when the MD5 matches the
published one. Any failure removes the temporary file and raises DataError.
A progress bar on stderr shows a download as it goes. Files taken out of a
downloaded tar archive are checked and written the same way.
"""

from __future__ import annotations

import hashlib
import http.client
import sys
import tarfile
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
        from tqdm.auto import tqdm

        with urllib.request.urlopen(url, timeout=timeout) as resp:
            size = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                leave=False,
                file=sys.stderr,
                desc=f"downloading {url.rsplit('/', 1)[-1]}",
            ) as bar:
                _copy_checked(resp, out, md5, f"download of {url}", progress=bar.update)

    try:
        atomic_write(dest, fetch)
    except (OSError, ValueError, http.client.HTTPException) as err:  # URLError is an OSError
        plain = isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError)
        reason = err.reason if plain else err
        raise DataError(f"cannot download {url}: {reason}") from err
    return dest


def _copy_checked(source, out, md5: str, what: str, progress=None) -> None:
    """Stream ``source`` into ``out``; raise DataError unless its MD5 is ``md5``.

    ``progress(n)``, when given, is called with the size of every chunk copied.
    """
    digest = hashlib.md5()
    for chunk in iter(lambda: source.read(CHUNK), b""):
        digest.update(chunk)
        out.write(chunk)
        if progress is not None:
            progress(len(chunk))
    if digest.hexdigest() != md5:
        raise DataError(f"{what} has MD5 {digest.hexdigest()}, expected {md5}; the file is damaged or another one")


def extract_checked(archive: str | Path, members: dict[str, tuple[Path, str]]) -> None:
    """Write each tar ``members[name] = (dest, md5)`` of ``archive`` to dest, only if its MD5 matches.

    Each file is written atomically; a member that is missing or differs raises
    DataError and leaves its destination untouched.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            for name, (dest, md5) in members.items():
                try:
                    source = tar.extractfile(name)
                except KeyError:
                    source = None
                if source is None:
                    raise DataError(f"{archive} holds no file {name}")
                with source:
                    atomic_write(dest, lambda out: _copy_checked(source, out, md5, f"{name} in {archive}"))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"cannot read the archive {archive}: {err}") from err
