"""``make demo``: one edit-sequential job end to end on the local stack, through one of its three doors.

Starts the stack (moto, provider simulator, gateway, queue pumps) on free loopback ports, then runs
``seedream --api-url <that stack> submit IMAGES... --wait`` in this process (``seedream_cli.main.run``,
the command's own code path): local source images are uploaded to the stack's bucket (they reach the
provider as presigned URLs), the job is submitted over the IAM-signed API and followed to its end,
its outputs are saved to ``out/<job_id>/NN.<ext>`` with a ``contact-sheet.png``, and the final job
(``GET /v1/jobs/{job_id}``) is printed as JSON, last on stdout.

Settings (environment): PROVIDER, MODEL, MAX_IMAGES, SIZE, PROMPT, IMAGES (comma-separated URLs
or local paths, relative to the repository), GENERATION_SECONDS (simulated provider time, default 3),
TIMEOUT (default 180).

Before the stack starts, :func:`preflight` checks the settings: the numbers, each IMAGES entry (a URL, or a file
that is an image), and the request itself against the door's rules (``seedream.usecases.accept.check_request``,
the providers' limits and ``auto``'s choice, with the template's default settings); a refusal is said as the API
would say it, and nothing starts. What only the stack can check (its bucket's objects) the command's own dry run
checks once it is up.
Exit status (the command's): 0 when the job succeeded, 1 when it failed, 2 on a usage error, a refused request or
a time-out. ``make demo`` itself exits 2 whenever this is not 0 (make's status for a failed recipe); the line
``make: *** [Makefile:…: demo] Error N`` gives this N.

``ENTRY`` picks the door (default ``http``, as above):
- ``ENTRY=s3``: the images to ``requests/<name>/``, then the manifest ``requests/<name>.json``; the job
  document is ``results/<name>.json`` (``local.doors``);
- ``ENTRY=eventbridge``: ``Job Requested`` on the stack's bus with a task token; the job document is the
  output of the ``SendTaskSuccess`` it gets.
Either way the outputs land in ``out/<job_id>/`` with the contact sheet and the job document is printed last.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

import click
from PIL import Image

from seedream_cli.errors import ApiError
from seedream_cli.jobs import content_key, sources_from
from seedream_cli.main import SIZE, run
from seedream_cli.sheet import contact_sheet

from . import doors
from .runtime import LAYER
from .stack import LocalStack, PortError, local_environment
from .template import ROOT

DEFAULT_IMAGE = "examples/astronaut.png"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_prompt(count: str) -> str:
    return (f"Generate a series of {count} edited images (Panels 1-{count}) from the source photo, keeping the same "
            f"person, pose, suit and framing in all {count} images; change only the light and colour grade per panel.")


def image_argument(spec: str) -> str:
    """URLs as they are; a relative path that names a file under the repository, as that file."""
    if spec.startswith(("https://", "http://", "s3://")) or os.path.isabs(spec):
        return spec
    under_root = ROOT / spec
    return str(under_root) if under_root.is_file() else spec


def command(api_url: str) -> list[str]:
    """The ``seedream`` arguments the environment asks for."""
    count = os.environ.get("MAX_IMAGES") or "4"
    specs = [s.strip() for s in (os.environ.get("IMAGES") or DEFAULT_IMAGE).split(",") if s.strip()]
    return ["--api-url", api_url, "submit", *[image_argument(s) for s in specs],
            "--provider", os.environ.get("PROVIDER") or "wavespeed",
            "--model", os.environ.get("MODEL") or "seedream-v4.5",
            "--count", count, "--size", os.environ.get("SIZE") or "2048*2048",
            "--prompt", os.environ.get("PROMPT") or default_prompt(count),
            "--metadata", "source=make-demo", "--wait", "--out", str(ROOT / "out" / "{job_id}"),
            "--timeout", timeout_seconds(), "--stack-stops"]


PREFLIGHT_BUCKET = "seedream-demo-preflight"
"""The bucket local files are named in for :func:`preflight` (the stack's bucket does not exist yet)."""


def preflight() -> str | None:
    """The demo's settings checked before the stack starts: None when they hold, else what to say (one line per
    problem). IMAGES: each a URL or an image file; the request (PROVIDER, MODEL, MAX_IMAGES, SIZE, PROMPT, the images,
    local files named ``s3://…/inputs/<sha256>/<name>`` as the command will name them) held to the door's rules."""
    try:
        sources = sources_from([image_argument(s.strip()) for s in (os.environ.get("IMAGES") or DEFAULT_IMAGE).split(",")
                                if s.strip()])
    except click.BadParameter as exc:
        return f"demo: IMAGES: {exc.message}"
    count = os.environ.get("MAX_IMAGES") or "4"
    body = {"provider": os.environ.get("PROVIDER") or "wavespeed", "model": os.environ.get("MODEL") or "seedream-v4.5",
            "prompt": os.environ.get("PROMPT") or default_prompt(count), "max_images": int(count),
            "size": SIZE.sub(r"\1*\2", (os.environ.get("SIZE") or "2048*2048").strip()),
            "images": [f"s3://{PREFLIGHT_BUCKET}/{content_key(s.path)}" if s.path else s.spec for s in sources]}
    if str(LAYER) not in sys.path:  # the shared package, as the stack's functions import it (local.runtime)
        sys.path.insert(0, str(LAYER))
    from seedream.errors import InvalidRequest
    from seedream.settings import Settings
    from seedream.usecases.accept import check_request
    from seedream.wiring import build_services

    settings = Settings.from_env(local_environment() | {"BUCKET": PREFLIGHT_BUCKET})
    try:
        check_request(build_services(settings, ("provider_limits",)), body)
    except InvalidRequest as exc:
        return "demo: the request would be refused, so the stack is not started: " + str(
            ApiError(exc.http_status, exc.code, exc.message, exc.details))
    return None


ENTRIES = ("http", "s3", "eventbridge")


def through_a_door(stack: LocalStack, entry: str) -> int:
    """The default job through the S3 or EventBridge door (``local.doors``): outputs saved, document printed last."""
    count = int(os.environ.get("MAX_IMAGES") or 4)
    specs = [image_argument(s.strip()) for s in (os.environ.get("IMAGES") or DEFAULT_IMAGE).split(",") if s.strip()]
    request = {"provider": os.environ.get("PROVIDER") or "wavespeed", "model": os.environ.get("MODEL") or "seedream-v4.5",
               "prompt": os.environ.get("PROMPT") or default_prompt(str(count)), "max_images": count,
               "size": os.environ.get("SIZE") or "2048*2048", "metadata": {"source": "make-demo", "entry": entry}}
    timeout = float(os.environ.get("TIMEOUT") or 180)
    if entry == "s3":
        job, status = doors.via_s3(stack, request, specs, timeout)
    else:
        job, status = doors.via_eventbridge(stack, request | {"images": doors.uploaded(stack, specs)}, timeout)
    if status == 0:
        save_outputs(stack, job, specs)
    if job is not None:
        print(json.dumps(job, indent=2))
    return status


def save_outputs(stack: LocalStack, job: dict, specs: list[str]) -> None:
    """A door's job document names its outputs by ``s3_uri``: to ``out/<job_id>/NN.ext`` with a contact sheet."""
    out_dir = ROOT / "out" / job["job_id"]
    out_dir.mkdir(parents=True, exist_ok=True)
    s3 = stack.session.client("s3")
    outputs = []
    for output in job["outputs"]:
        bucket, key = output["s3_uri"][5:].split("/", 1)
        path = out_dir / f"{output['index']:02d}.{key.rsplit('.', 1)[-1]}"
        path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        outputs.append(Image.open(path))
    sources = [Image.open(spec) for spec in specs if os.path.isfile(spec)]
    contact_sheet(sources, outputs, out_dir / "contact-sheet.png")
    say(f"==> saved {len(outputs)} outputs ({outputs[0].width}x{outputs[0].height}) and contact-sheet.png "
        f"to {out_dir.relative_to(ROOT)}/")


def timeout_seconds() -> str:
    return os.environ.get("TIMEOUT") or "180"


def main() -> int:
    entry = (os.environ.get("ENTRY") or "http").strip().lower()
    if entry not in ENTRIES:
        say(f"demo: ENTRY must be one of {', '.join(ENTRIES)}, not {entry!r}")
        return 2
    try:
        generation = float(os.environ.get("GENERATION_SECONDS") or 3)
        int(os.environ.get("MAX_IMAGES") or 4)
        float(timeout_seconds())
    except ValueError:
        say("demo: GENERATION_SECONDS and TIMEOUT must be numbers and MAX_IMAGES a whole number")
        return 2
    refused = preflight()
    if refused:
        say(refused)
        return 2
    say("==> starting the local stack (moto, provider simulator, gateway, queue pumps)")
    try:
        with LocalStack(api_port=0, key_api_port=0, moto_port=0, simulator_port=0, websocket_port=0,
                        generation_seconds=generation) as stack:
            if entry != "http":
                return through_a_door(stack, entry)
            args = command(stack.api_url)
            shown = [arg.replace(f"{ROOT}{os.sep}", "") for arg in args if arg != "--stack-stops"]  # as typed
            say(f"==> {shlex.join(['seedream', *shown])}")
            return run(args)
    except PortError as exc:
        say(f"demo: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
