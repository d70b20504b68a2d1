"""``make demo``: one edit-sequential job end to end on the local stack, through the ``seedream`` command.

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
"""

from __future__ import annotations

import os
import shlex
import sys

from seedream_cli.main import run

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


def main() -> int:
    try:
        generation = float(os.environ.get("GENERATION_SECONDS") or 3)
    except ValueError:
        say("demo: GENERATION_SECONDS must be a number")
        return 2
    say("==> starting the local stack (moto, provider simulator, gateway, queue pumps)")
    try:
        with LocalStack(api_port=0, moto_port=0, simulator_port=0, generation_seconds=generation) as stack:
            args = command(stack.api_url)
            shown = [arg.replace(f"{ROOT}{os.sep}", "") for arg in args]  # as typed in the repository
            say(f"==> {shlex.join(['seedream', *shown])}")
            return run(args)
    except PortError as exc:
        say(f"demo: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
