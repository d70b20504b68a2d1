"""Submitting and waiting: uploads, the request body, polling until the job ends, saving the outputs.

``submit --wait`` and ``wait`` (and so ``make demo``) go through :func:`follow`.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
from botocore.exceptions import ClientError
from PIL import Image, UnidentifiedImageError

from .errors import INTERRUPTED, JOB_FAILED, USAGE, CliError
from .live import REOPENS, ConnectionClosed, LiveEvents, advanced
from .progress import TERMINAL, Reporter
from .sheet import contact_sheet
from .target import Target

URL_PREFIXES = ("https://", "http://", "s3://")


@dataclass
class Source:
    """One source image: a URL as given, or a local file (uploaded before the job is submitted)."""

    spec: str
    path: Path | None = None
    content_type: str | None = None
    uri: str | None = None


def sources_from(specs: tuple[str, ...] | list[str]) -> list[Source]:
    """Check every argument before anything is uploaded: a URL, or a local image file."""
    sources = []
    for spec in specs:
        if spec.startswith(URL_PREFIXES):
            sources.append(Source(spec, uri=spec))
            continue
        path = Path(spec).expanduser()
        if not path.is_file():
            raise click.BadParameter(f"{spec!r} is neither a URL (https://, s3://) nor an existing file",
                                     param_hint="IMAGE_OR_URL")
        try:
            with Image.open(path) as image:
                content_type = Image.MIME.get(image.format or "", "application/octet-stream")
        except (UnidentifiedImageError, OSError):
            raise click.BadParameter(f"{spec!r} is not an image file", param_hint="IMAGE_OR_URL") from None
        sources.append(Source(spec, path=path, content_type=content_type))
    return sources


def content_key(path: Path) -> str:
    """``inputs/<sha256 of the file, hex>/<file name>``: the same file is the same key, so the same request body."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return f"inputs/{digest.hexdigest()}/{path.name}"


def plan_uploads(target: Target, sources: list[Source]) -> list[str]:
    """Name each local file by its content in the stack's bucket (``s3://<bucket>/inputs/<sha256>/<name>``, set as
    its ``uri``) before anything is uploaded; returns every source's URI, in order (what the request body names)."""
    local = [s for s in sources if s.path is not None]
    if local and not target.bucket:
        raise CliError(f"{local[0].spec} is a local file: uploading it needs the stack's bucket "
                       "(use --stack NAME, or --bucket NAME with --api-url)")
    for source in local:
        source.uri = f"s3://{target.bucket}/{content_key(source.path)}"
    return [s.uri for s in sources]


def upload(target: Target, sources: list[Source], reporter: Reporter) -> list[str]:
    """Upload each local file to the URI :func:`plan_uploads` named it by, unless the object is already there
    (HeadObject): a retry, or a batch run again, uploads nothing twice. Returns every source's URI, in order."""
    uris = plan_uploads(target, sources)
    local = [s for s in sources if s.path is not None]
    if local:
        s3 = target.aws("s3")
        for source in local:
            key = source.uri.removeprefix(f"s3://{target.bucket}/")
            if _exists(target, s3, key):
                reporter.say(f"already uploaded {_shown(source.path)} → {source.uri}")
                continue
            with target.aws_errors(f"uploading {source.spec} to s3://{target.bucket}"):
                s3.upload_file(str(source.path), target.bucket, key, ExtraArgs={"ContentType": source.content_type})
            reporter.say(f"uploaded {_shown(source.path)} → {source.uri}")
    return uris


def _exists(target: Target, s3, key: str) -> bool:
    """HeadObject: True when the object is there; False when it is not (404), or cannot be told (403: credentials
    without s3:ListBucket get 403 for a missing key), so the file is uploaded."""
    with target.aws_errors(f"checking s3://{target.bucket}/{key}"):
        try:
            s3.head_object(Bucket=target.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "403", "NoSuchKey", "NotFound", "Forbidden"):
                return False
            raise
    return True


def wait_for_end(target: Target, job: dict, reporter: Reporter, *, interval: float = 1.0,
                 timeout: float | None = None, again: str | None = "seedream ", live: LiveEvents | None = None,
                 subscribed: bool = False) -> tuple[dict, bool]:
    """Wait until the job ends. Returns ``(job, ended)``: ``ended`` is False when ``timeout`` seconds passed first.

    With ``live`` (an open WebSocket connection, ``seedream_cli.live``) the job's events say when: no request to the
    API at all (``subscribed``: the connection already receives the job's events, as ``submit --wait`` subscribes to
    every job of the caller before it creates one; otherwise the job is subscribed to first, and its answer gives the
    job's current state). The job returned is then the one given, moved on by its events: read the document after.
    Without ``live`` (a stack with no WebSocket API), ``GET /v1/jobs/{id}`` every ``interval`` s.

    Ctrl-C stops waiting (not the job); ``again`` is the command to come back to the job with (None: the stack stops
    with this command, so no hint names it)."""
    job_id = job["job_id"]
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        with reporter.watching(job_id):
            if job.get("status"):
                reporter.update(job)
            if live is not None:
                return _wait_live(live, job, reporter, deadline, subscribed)
            while job.get("status") not in TERMINAL:
                if deadline is not None and time.monotonic() >= deadline:
                    return job, False
                pause = interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))
                time.sleep(pause)
                job = target.api.get_job(job_id)
                reporter.update(job)
    except KeyboardInterrupt:
        hint = f"; job {job_id} goes on ({again}wait {job_id}, {again}cancel {job_id})" if again else ""
        raise CliError(f"stopped waiting{hint}", exit_code=INTERRUPTED) from None
    return job, True


def _wait_live(live: LiveEvents, job: dict, reporter: Reporter, deadline: float | None,
               subscribed: bool) -> tuple[dict, bool]:
    job_id, reopened = job["job_id"], 0
    while True:
        try:
            if not subscribed:
                answer = live.subscribe(job_id)
                subscribed, reopened = True, 0
                if moved := advanced(job, answer.get("current") or {}):
                    job = moved
                    reporter.update(job)
            if job.get("status") in TERMINAL:
                return job, True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return job, False
            event = live.next_event(left)
            if event is not None and (event.get("detail") or {}).get("job_id") == job_id and \
                    (moved := advanced(job, event)):
                job = moved
                reporter.update(job)
        except ConnectionClosed:  # API Gateway's idle or 2-hour limit: open again, subscribe again
            reopened += 1
            if reopened > REOPENS:
                raise CliError(f"the WebSocket connection to {live.url} closed {REOPENS} times in a row") from None
            live.reopen()
            subscribed = False


def save_outputs(target: Target, job: dict, out_dir: Path, sources: list[Source], reporter: Reporter) -> None:
    """Each output to ``out_dir/NN.<ext>``, then ``contact-sheet.png`` (sources and outputs side by side)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = job.get("outputs") or []
    images: list[Image.Image] = []
    with httpx.Client(timeout=60, trust_env=not target.local) as http, reporter.downloading(len(outputs)) as advance:
        for output in outputs:
            ext = output["s3_uri"].rsplit(".", 1)[-1] if "." in output["s3_uri"].rsplit("/", 1)[-1] else "bin"
            path = out_dir / f"{output['index']:02d}.{ext}"
            try:
                response = http.get(output["url"])
            except httpx.HTTPError as exc:
                raise CliError(f"downloading output {output['index']} failed: {exc}") from None
            if not response.is_success:
                raise CliError(f"downloading output {output['index']} failed: HTTP {response.status_code}")
            path.write_bytes(response.content)
            images.append(Image.open(io.BytesIO(response.content)))
            advance()
        originals = [img for img in (_source_image(target, s, http, reporter) for s in sources) if img is not None]
    if images:
        contact_sheet(originals, images, out_dir / "contact-sheet.png")
        sizes = sorted({f"{img.width}x{img.height}" for img in images})
        reporter.say(f"saved {len(images)} output{'s' if len(images) != 1 else ''} ({', '.join(sizes)}) "
                     f"and contact-sheet.png to {_shown(out_dir)}/")
    else:
        reporter.say(f"the job has no outputs to save to {_shown(out_dir)}/")


def _source_image(target: Target, source: Source, http: httpx.Client, reporter: Reporter) -> Image.Image | None:
    """The source for the contact sheet (a local file, or fetched again); a warning and None if it cannot be read."""
    try:
        if source.path is not None:
            return Image.open(source.path)
        uri = source.uri or source.spec
        if uri.startswith("s3://"):
            bucket, key = uri[5:].split("/", 1)
            with target.aws_errors(f"reading {uri}"):
                body = target.aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
            return Image.open(io.BytesIO(body))
        return Image.open(io.BytesIO(http.get(uri).raise_for_status().content))
    except (CliError, httpx.HTTPError, UnidentifiedImageError, OSError, ValueError) as exc:
        reporter.say(f"warning: the contact sheet leaves out source {source.spec}: {exc}")
        return None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def follow(target: Target, job: dict, reporter: Reporter, echo: Callable[[str], None], *, out_dir: Path | None,
           sources: list[Source] | None, interval: float = 1.0, timeout: float | None = None,
           again: str | None = "seedream ", live: LiveEvents | None = None, subscribed: bool = False) -> int:
    """Wait for the job, save its outputs to ``out_dir`` (if given), print the job's JSON last; the exit status.
    ``again``, ``live`` and ``subscribed``: as in :func:`wait_for_end` (with ``live``, the document is read once, at
    the end). ``sources`` None: the job's own ``request.images``."""
    job, ended = wait_for_end(target, job, reporter, interval=interval, timeout=timeout, again=again, live=live,
                              subscribed=subscribed)
    job_id = job["job_id"]
    if live is not None:
        job = target.api.get_job(job_id)  # the one read: the document, with its presigned output URLs
        if ended and job.get("status") not in TERMINAL:
            raise CliError(f"job {job_id} ended by its events but reads {job.get('status')}")
    if sources is None:
        sources = [Source(uri, uri=uri) for uri in (job.get("request") or {}).get("images", [])]
    if not ended:
        echo(json.dumps(job, indent=2))
        hint = f" (keep waiting: {again}wait {job_id})" if again else \
            " (the stack stops with this command, and the job with it: give it a longer time-out, e.g. make demo TIMEOUT=600)"
        reporter.say(f"seedream: error: job {job_id} is still {job.get('status')} after {timeout:g} s{hint}")
        return USAGE
    if job["status"] == "succeeded":
        if out_dir is not None:
            save_outputs(target, job, out_dir, sources, reporter)
        echo(json.dumps(job, indent=2))
        return 0
    echo(json.dumps(job, indent=2))
    error = job.get("error") or {}
    reason = f": {error.get('code')}: {error.get('message')}" if error else ""
    reporter.say(f"seedream: job {job_id} {job['status']}{reason}")
    return JOB_FAILED
