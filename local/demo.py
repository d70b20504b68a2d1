"""``make demo``: one edit-sequential job end to end on the local stack.

Starts the stack (moto, provider simulator, gateway, queue pumps) on free loopback ports,
uploads local source images to the stack's bucket (they reach the provider as presigned URLs),
submits the job through one of the three doors (``ENTRY``), shows progress until the job's terminal
event arrives on the bus, saves the outputs to ``out/<job_id>/NN.<ext>`` and a ``contact-sheet.png``,
and prints the final job as JSON, last on stdout:

- ``ENTRY=http`` (default): ``POST /v1/jobs`` over the IAM-signed API; the job is ``GET /v1/jobs/{job_id}``.
- ``ENTRY=s3``: images to ``requests/<name>/``, then the manifest ``requests/<name>.json``; the job is
  ``results/<name>.json`` (``local.doors``).
- ``ENTRY=eventbridge``: ``Job Requested`` on the stack's bus with a task token; the job is the output of
  the ``SendTaskSuccess`` it gets.

Settings (environment): ENTRY, PROVIDER, MODEL, MAX_IMAGES, SIZE, PROMPT, IMAGES (comma-separated URLs
or local paths), GENERATION_SECONDS (simulated provider time, default 3), TIMEOUT (default 180).
Exit status: 0 when the job succeeded, 1 when it failed, 2 on a usage error, a refusal or time-out.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from PIL import Image, ImageDraw, ImageOps

from . import doors
from .client import JobsClient
from .stack import LocalStack
from .template import ROOT

DEFAULT_IMAGE = "examples/astronaut.png"
ENTRIES = ("http", "s3", "eventbridge")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_prompt(count: int) -> str:
    return (f"Generate a series of {count} edited images (Panels 1-{count}) from the source photo, keeping the same "
            f"person, pose, suit and framing in all {count} images; change only the light and colour grade per panel.")


def upload_local_images(stack: LocalStack, specs: list[str]) -> list[str]:
    """URLs pass through; local files go to ``inputs/<uuid>/<name>`` in the stack's bucket (as ``s3://`` URIs)."""
    s3 = stack.session.client("s3")
    bucket = stack.name("JobsBucket")
    images = []
    for spec in specs:
        if spec.startswith(("https://", "http://", "s3://")):
            images.append(spec)
            continue
        path = Path(spec) if Path(spec).is_absolute() else ROOT / spec
        if not path.is_file():
            raise SystemExit(f"demo: IMAGES entry {spec!r} is neither a URL nor an existing file")
        key = f"inputs/{uuid.uuid4()}/{path.name}"
        content_type = Image.MIME.get(Image.open(path).format or "", "application/octet-stream")
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
        images.append(f"s3://{bucket}/{key}")
    return images


def seconds_between(start_iso: str, end_iso: str) -> float:
    return (datetime.fromisoformat(end_iso) - datetime.fromisoformat(start_iso)).total_seconds()


def load_source(spec: str, http: httpx.Client, s3) -> Image.Image:
    """A source image for the contact sheet: a local path (as given or under the repo), an http(s) URL or s3:// URI."""
    if spec.startswith(("http://", "https://")):
        return Image.open(io.BytesIO(http.get(spec).raise_for_status().content))
    if spec.startswith("s3://"):
        bucket, key = spec[5:].split("/", 1)
        return Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    path = Path(spec) if Path(spec).is_absolute() else ROOT / spec
    return Image.open(path)


def contact_sheet(sources: list[Image.Image], outputs: list[Image.Image], path: Path, height: int = 320) -> None:
    """Source(s) then outputs, side by side, each scaled to ``height`` px, with a caption strip."""
    tiles = [("source", img) for img in sources] + [(f"{i:02d}", img) for i, img in enumerate(outputs)]
    scaled = [(label, ImageOps.contain(img.convert("RGB"), (height * 4, height))) for label, img in tiles]
    gap, caption = 8, 24
    width = sum(img.width for _, img in scaled) + gap * (len(scaled) + 1)
    sheet = Image.new("RGB", (width, height + caption + gap * 2), "white")
    draw = ImageDraw.Draw(sheet)
    x = gap
    for label, img in scaled:
        sheet.paste(img, (x, gap))
        draw.text((x + 4, gap + height + 4), label, fill="black")
        x += img.width + gap
    sheet.save(path)


def via_http(stack: LocalStack, body: dict, timeout: float) -> tuple[dict | None, int]:
    """``POST /v1/jobs``, progress from ``GET /v1/jobs/{job_id}`` until the terminal event; ``(job, exit status)``."""
    client = JobsClient(stack.api_url, stack.session)
    say(f"==> POST {stack.api_url}/v1/jobs  provider={body['provider']} model={body['model']} "
        f"max_images={body['max_images']} size={body['size']}")
    response = client.create_job(body)
    if response.status_code != 202:
        say(f"demo: the API refused the job (HTTP {response.status_code}):\n{response.text}")
        return None, 2
    job_id = response.json()["job_id"]
    say(f"    202 Accepted, job_id={job_id}")
    started = time.monotonic()
    seen: list[str] = []

    def progress() -> None:
        job = client.get_job(job_id)
        if seen and job["status"] == seen[-1]:
            return
        seen.append(job["status"])
        stamp = {"submitted": job["submitted_at"], "succeeded": job["completed_at"],
                 "failed": job["completed_at"]}.get(job["status"]) or job["created_at"]
        detail = ""
        if job["status"] == "submitted":
            detail = f" to {job['provider']} (task {job['provider_task_id']}); waiting for its callback"
        say(f"    [{seconds_between(job['created_at'], stamp):6.2f}s] {job['status']}{detail}")

    event = client.wait_for_event(stack.session.client("sqs"), stack.events_queue_url, job_id,
                                  timeout=timeout, on_tick=progress)
    progress()
    job = client.get_job(job_id)
    if event is None:
        say(f"demo: no Job Succeeded/Failed event within {timeout:.0f} s; the job is {job['status']}")
        return job, 2
    say(f"    event '{event['detail-type']}' on bus {stack.name('JobsBus')} "
        f"({time.monotonic() - started:.1f} s after the POST)")
    if job["status"] != "succeeded":
        say(f"demo: the job failed: {job['error']['code']}: {job['error']['message']}")
        return job, 1
    return job, 0


def save_outputs(stack: LocalStack, job: dict, specs: list[str]) -> None:
    """The outputs to ``out/<job_id>/NN.ext`` (by presigned ``url``, or ``s3_uri`` in a door's document) and a
    contact sheet of sources and outputs."""
    out_dir = ROOT / "out" / job["job_id"]
    out_dir.mkdir(parents=True, exist_ok=True)
    s3 = stack.session.client("s3")
    outputs = []
    with httpx.Client(timeout=60) as http:
        for output in job["outputs"]:
            if output.get("url"):
                data = http.get(output["url"]).raise_for_status().content
            else:
                bucket, key = output["s3_uri"][5:].split("/", 1)
                data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            path = out_dir / f"{output['index']:02d}.{output['s3_uri'].rsplit('.', 1)[-1]}"
            path.write_bytes(data)
            outputs.append(Image.open(path))
        sources = [load_source(spec, http, s3) for spec in specs]
    contact_sheet(sources, outputs, out_dir / "contact-sheet.png")
    say(f"==> saved {len(outputs)} outputs ({outputs[0].width}x{outputs[0].height}) and contact-sheet.png "
        f"to {out_dir.relative_to(ROOT)}/")


def main() -> int:
    entry = (os.environ.get("ENTRY") or "http").strip().lower()
    if entry not in ENTRIES:
        say(f"demo: ENTRY must be one of {', '.join(ENTRIES)}, not {entry!r}")
        return 2
    provider = os.environ.get("PROVIDER") or "wavespeed"
    model = os.environ.get("MODEL") or "seedream-v4.5"
    size = os.environ.get("SIZE") or "2048*2048"
    try:
        max_images = int(os.environ.get("MAX_IMAGES") or 4)
    except ValueError:
        say("demo: MAX_IMAGES must be a whole number")
        return 2
    prompt = os.environ.get("PROMPT") or default_prompt(max_images)
    specs = [s.strip() for s in (os.environ.get("IMAGES") or DEFAULT_IMAGE).split(",") if s.strip()]
    timeout = float(os.environ.get("TIMEOUT") or 180)
    generation = float(os.environ.get("GENERATION_SECONDS") or 3)

    say("==> starting the local stack (moto, provider simulator, gateway, queue pumps)")
    with LocalStack(api_port=0, moto_port=0, simulator_port=0, generation_seconds=generation) as stack:
        request = {"provider": provider, "model": model, "prompt": prompt, "max_images": max_images, "size": size,
                   "metadata": {"source": "make-demo", "entry": entry}}
        if entry == "s3":
            job, status = doors.via_s3(stack, request, specs, timeout)
        elif entry == "eventbridge":
            job, status = doors.via_eventbridge(stack, request | {"images": upload_local_images(stack, specs)}, timeout)
        else:
            job, status = via_http(stack, request | {"images": upload_local_images(stack, specs)}, timeout)
        if status == 0:
            save_outputs(stack, job, specs)
        if job is not None:
            print(json.dumps(job, indent=2))
        return status


if __name__ == "__main__":
    sys.exit(main())
