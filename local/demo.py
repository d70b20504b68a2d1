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
Exit status (the command's): 0 when the job succeeded, 1 when it failed, 2 on a usage error or time-out.

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

from PIL import Image

from seedream_cli.main import run
from seedream_cli.sheet import contact_sheet

from . import doors
from .stack import LocalStack, PortError
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
            "--timeout", os.environ.get("TIMEOUT") or "180"]


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


def main() -> int:
    entry = (os.environ.get("ENTRY") or "http").strip().lower()
    if entry not in ENTRIES:
        say(f"demo: ENTRY must be one of {', '.join(ENTRIES)}, not {entry!r}")
        return 2
    try:
        generation = float(os.environ.get("GENERATION_SECONDS") or 3)
        int(os.environ.get("MAX_IMAGES") or 4)
    except ValueError:
        say("demo: GENERATION_SECONDS must be a number and MAX_IMAGES a whole number")
        return 2
    say("==> starting the local stack (moto, provider simulator, gateway, queue pumps)")
    try:
        with LocalStack(api_port=0, moto_port=0, simulator_port=0, generation_seconds=generation) as stack:
            if entry != "http":
                return through_a_door(stack, entry)
            args = command(stack.api_url)
            shown = [arg.replace(f"{ROOT}{os.sep}", "") for arg in args]  # as typed in the repository
            say(f"==> {shlex.join(['seedream', *shown])}")
            return run(args)
    except PortError as exc:
        say(f"demo: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
