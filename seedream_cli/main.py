"""The ``seedream`` command: submit, wait, get, cancel, list, events, models, keys, doctor and listen, against the local or
a deployed stack.

Exit status: 0 done; 1 the job failed or was cancelled (doctor: a check does not hold); 2 a usage error, an
API error, an unreachable stack or a time-out (one line on stderr, never a traceback; a refused request with
several problems adds one line per problem); 130 interrupted. The final job JSON is the last thing on stdout;
progress and messages go to stderr.

The target options (``--api-url``, ``--stack``, ``--region``, ``--bucket``) belong to ``seedream`` itself and
go before the command: ``seedream --stack NAME doctor``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from . import doctor as doctor_checks
from .errors import CHECK_FAILED, INTERRUPTED, JOB_FAILED, USAGE, ApiError, CliError
from .events import follow_events, follow_live, queue_url_of
from .jobs import Source, follow, plan_uploads, sources_from, upload
from .live import LiveEvents, no_websocket, websocket_url_of
from .progress import Reporter, usd
from .target import Target, resolve, resolve_stack

PROVIDERS = (*doctor_checks.PROVIDERS, "auto")
MODELS = ("seedream-v4", "seedream-v4.5", "seedream-v5.0-lite")
STATUSES = ("queued", "submitted", "succeeded", "failed", "cancelled")
WEBHOOK_EVENTS = tuple(f"job.{status}" for status in STATUSES)
SIZE = re.compile(r"^(\d+)\s*[*xX×]\s*(\d+)$")


class Options:
    """The group's options; the target is resolved (CloudFormation read, for ``--stack``) when a command needs it."""

    def __init__(self, api_url: str | None, stack: str | None, region: str | None, bucket: str | None,
                 region_given: bool = False):
        self.api_url, self.stack, self.region, self.bucket = api_url, stack, region, bucket
        self.region_given = region_given
        """``--region`` was on the command line (not from AWS_REGION)."""

    @cached_property
    def target(self) -> Target:
        return resolve(self.api_url, self.stack, self.region, self.bucket, self.region_given)

    @cached_property
    def stack_target(self) -> Target:
        """The target with its stack's outputs: ``--stack NAME``, or the local stack's (``doctor``)."""
        return resolve_stack(self.api_url, self.stack, self.region, self.bucket)

    @property
    def again(self) -> str:
        """``seedream [target options] `` to repeat in hints."""
        args = ["seedream"]
        if self.stack:
            args += ["--stack", self.stack]
        elif self.api_url:
            args += ["--api-url", self.api_url]
        if self.region_given:
            args += ["--region", self.region]
        return " ".join(args) + " "


def run(args: list[str] | None = None) -> int:
    """Run the command line in this process and return its exit status; every error is one line on stderr."""
    return _guarded(lambda: cli.main(args, prog_name="seedream", standalone_mode=False))


def entry() -> None:
    """The console script."""
    sys.exit(run())


def _guarded(call: Callable[[], object]) -> int:
    try:
        result = call()
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return USAGE
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "seedream"
        message = " ".join(exc.format_message().split())
        if isinstance(exc, click.NoSuchOption) and exc.ctx and exc.ctx.parent and exc.option_name in _group_options():
            message = (f"{message.rstrip('.')}: {exc.option_name} is an option of seedream itself and goes before "
                       f"the command: seedream {exc.option_name} … {exc.ctx.info_name}")
        click.echo(f"{where}: error: {message} (see: {where} --help)", err=True)
        return USAGE
    except click.ClickException as exc:
        click.echo(f"seedream: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("seedream: interrupted", err=True)
        return INTERRUPTED
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if os.environ.get("SEEDREAM_DEBUG"):
            raise
        click.echo(f"seedream: error: unexpected {type(exc).__name__}: {exc} (SEEDREAM_DEBUG=1 shows the traceback)",
                   err=True)
        return USAGE
    return result if isinstance(result, int) else 0


def _group_options() -> set[str]:
    return {name for param in cli.params for name in param.opts}


class Cli(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        sys.exit(_guarded(lambda: super(Cli, self).main(args, prog_name or "seedream", complete_var,
                                                        standalone_mode=False, **extra)))


def _version() -> str:
    try:
        return version("seedream-jobs")
    except PackageNotFoundError:  # run from a checkout without `pip install -e .`
        return "unknown (not installed: pip install -e .)"


@click.group(name="seedream", cls=Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(_version(), "--version", prog_name="seedream", message="%(prog)s %(version)s")
@click.option("--api-url", envvar="SEEDREAM_API_URL", metavar="URL",
              help="The jobs API [env SEEDREAM_API_URL; default: the local stack, http://127.0.0.1:$API_PORT (3000)].")
@click.option("--stack", metavar="NAME", help="A deployed stack: its ApiUrl, BucketName and EventBusName outputs.")
@click.option("--region", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], help="AWS region [env AWS_REGION].")
@click.option("--bucket", envvar="SEEDREAM_BUCKET", metavar="NAME",
              help="Where local image files are uploaded [default: the stack's bucket].")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, stack: str | None, region: str | None, bucket: str | None) -> None:
    """Run Seedream image jobs on the jobs API (SigV4-signed).

    \b
    Targets: the local stack by default (make up; its dummy credentials and moto
    endpoint are used automatically), --api-url for any API (default credential chain),
    --stack NAME for a deployed stack.
    Exit status: 0 ok, 1 the job failed or was cancelled (doctor: a check failed),
    2 usage/API error or time-out.
    These options go before the command: seedream --stack NAME doctor.
    """
    given = ctx.get_parameter_source("region") == click.core.ParameterSource.COMMANDLINE
    ctx.obj = Options(api_url, stack, region, bucket, region_given=given)


def _size(_ctx, _param, value: str) -> str:
    match = SIZE.match(value.strip())
    if not match:
        raise click.BadParameter(f'{value!r} is not "W*H" in pixels, e.g. 2048*2048')
    return f"{match.group(1)}*{match.group(2)}"


def _pairs(_ctx, _param, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE")
        pairs[key] = text
    return pairs


def _wait_options(function):
    function = click.option("--poll-interval", type=click.FloatRange(min=0.05), default=1.0, hidden=True)(function)
    return click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
                        help="Stop waiting after this long (exit 2); the job goes on.")(function)


@cli.command(short_help="Submit a job (--wait: follow it, save its outputs).")
@click.argument("images", metavar="IMAGE_OR_URL...", nargs=-1, required=True)
@click.option("--prompt", required=True, help='The instruction; name the count, e.g. "a series of 4 images".')
@click.option("--provider", type=click.Choice(PROVIDERS), default="auto", show_default=True)
@click.option("--model", type=click.Choice(MODELS), default="seedream-v4.5", show_default=True)
@click.option("--count", type=click.IntRange(1, 15), default=4, show_default=True, help="Outputs wanted (max_images).")
@click.option("--size", default="2048*2048", show_default=True, callback=_size, help="W*H in pixels.")
@click.option("--seed", type=int)
@click.option("--metadata", multiple=True, metavar="KEY=VALUE", callback=_pairs, help="Carried to the job and its events.")
@click.option("--idempotency-key", metavar="KEY", help="Sent as the Idempotency-Key header.")
@click.option("--dry-run", is_flag=True,
              help="Check the request and print the provider order and estimated cost; upload and create nothing.")
@click.option("--webhook", metavar="URL", help="Where the job's moves are POSTed, signed (see: seedream listen).")
@click.option("--webhook-event", "webhook_events", multiple=True, type=click.Choice(WEBHOOK_EVENTS),
              help="A move the webhook hears of (repeat it) [default: job.succeeded, job.failed, job.cancelled].")
@click.option("--wait", is_flag=True, help="Follow the job to its end, save its outputs and print it.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="With --wait: where the outputs go; {job_id} is replaced [default: out/{job_id}].")
@click.option("--stack-stops", is_flag=True, hidden=True,
              help="The stack stops when this command ends (make demo): no hint names it.")
@_wait_options
@click.pass_obj
def submit(obj: Options, images, prompt, provider, model, count, size, seed, metadata, idempotency_key, dry_run,
           webhook, webhook_events, wait, out, stack_stops, timeout, poll_interval) -> int:
    """Submit a job. IMAGE_OR_URL: https:// or s3:// URLs, or local files (uploaded to the stack's bucket as
    inputs/<sha256>/<name>, once: the same file is the same request).

    The request is checked first (a dry run, before any upload): a refused one uploads nothing. Prints the job
    id; with --wait, shows its progress, saves the outputs and contact-sheet.png to --out and prints the final
    job JSON last (exit 0 succeeded, 1 failed or cancelled). With --dry-run, prints the dry run's answer (the
    provider order and the estimated cost) and stops: nothing is uploaded or created.
    """
    if not wait and (out is not None or timeout is not None):
        raise click.UsageError("--out and --timeout go with --wait")
    if dry_run and wait:
        raise click.UsageError("--dry-run creates no job to --wait for")
    sources = sources_from(images)
    target = obj.target
    reporter = Reporter()
    body = {"provider": provider, "model": model, "prompt": prompt, "images": plan_uploads(target, sources),
            "max_images": count, "size": size}
    if seed is not None:
        body["seed"] = seed
    if metadata:
        body["metadata"] = metadata
    if webhook:
        body["webhook"] = webhook
    if webhook_events:
        body["webhook_events"] = list(webhook_events)
    checked = target.api.dry_run(body, idempotency_key)
    created = None if checked.get("dry_run") is True else checked.get("job_id")
    if created and dry_run:  # a stack older than dry runs took the request as a job
        raise CliError(f"{target.api_url} does not know dry_run (it is older than this command) and created job "
                       f"{created}; deploy the stack again")
    to_upload = {s.uri for s in sources if s.path is not None}
    missing = [uri for uri in checked.get("missing_images") or [] if uri not in to_upload]
    if missing:
        raise CliError(f"{missing[0]} does not exist" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if dry_run:
        order = checked.get("provider_order") or []
        then = f" (then {', '.join(order[1:])})" if len(order) > 1 else ""
        waiting = [s for s in sources if s.uri in (checked.get("missing_images") or [])]
        uploads = f"; {len(waiting)} local file{'s' if len(waiting) != 1 else ''} to upload" if waiting else ""
        reporter.say(f"dry run: {model}, {count} × {size} would go to {checked.get('provider')}{then}, estimated "
                     f"{usd(checked.get('estimated_cost_usd') or 0)}{uploads}; nothing was uploaded or created")
        click.echo(json.dumps(checked, indent=2))
        return 0
    live = _live(target, reporter) if wait else None
    with live or contextlib.nullcontext():
        if live is not None and not created:
            live.subscribe()  # every job of ours, before this one exists: none of its events can come first
        if created:
            job = checked
        else:
            upload(target, sources, reporter)
            job = target.api.create_job(body, idempotency_key)
        job_id = job["job_id"]
        estimate = job.get("estimated_cost_usd", checked.get("estimated_cost_usd"))
        priced = f", estimated {usd(estimate)} at {job.get('provider')}" if isinstance(estimate, int | float) else ""
        if not wait:
            click.echo(job_id)
            reporter.say(f"job {job_id} {job.get('status')}{priced}; follow it with: {obj.again}wait {job_id}")
            return 0
        reporter.say(f"job {job_id} accepted: {provider} {model}, {count} × {size}{priced}")
        out_dir = Path(str(out or Path("out") / "{job_id}").replace("{job_id}", job_id))
        return follow(target, job, reporter, click.echo, out_dir=out_dir, sources=sources, interval=poll_interval,
                      timeout=timeout, again=None if stack_stops else obj.again, live=live, subscribed=not created)


def _live(target: Target, reporter: Reporter) -> LiveEvents | None:
    """An open connection to the target's WebSocket API, or None (with a line saying so) when it has none."""
    url = websocket_url_of(target)
    if url is None:
        reporter.say(f"seedream: {no_websocket(target)}; polling GET /v1/jobs/{{job_id}} instead")
        return None
    return LiveEvents(target, url).open()


@cli.command(short_help="Follow a job to its end and print it.")
@click.argument("job_id")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Save the outputs and contact-sheet.png here ({job_id} is replaced).")
@_wait_options
@click.pass_obj
def wait(obj: Options, job_id, out, timeout, poll_interval) -> int:
    """Follow a job to its end and print it (exit 0 succeeded, 1 failed or cancelled).

    The job's events come over the stack's WebSocket API; the job is read once, at the end."""
    target = obj.target
    reporter = Reporter()
    out_dir = Path(str(out).replace("{job_id}", job_id)) if out else None
    live = _live(target, reporter)
    if live is None:  # an older stack: read it now, then poll
        job = target.api.get_job(job_id)
        sources = [Source(uri, uri=uri) for uri in (job.get("request") or {}).get("images", [])] if out else []
        return follow(target, job, reporter, click.echo, out_dir=out_dir, sources=sources, interval=poll_interval,
                      timeout=timeout, again=obj.again)
    with live:
        return follow(target, {"job_id": job_id}, reporter, click.echo, out_dir=out_dir, sources=None if out else [],
                      timeout=timeout, again=obj.again, live=live)


@cli.command()
@click.argument("job_id")
@click.pass_obj
def get(obj: Options, job_id) -> int:
    """Print a job (GET /v1/jobs/{job_id})."""
    click.echo(json.dumps(obj.target.api.get_job(job_id), indent=2))
    return 0


@cli.command()
@click.argument("job_id")
@click.pass_obj
def cancel(obj: Options, job_id) -> int:
    """Cancel a job and print it (a finished job: exit 2, job_finished)."""
    job = obj.target.api.cancel_job(job_id)
    click.echo(json.dumps(job, indent=2))
    Reporter().say(f"job {job_id} {job.get('status')}")
    return 0


@cli.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--limit", type=click.IntRange(1, 100), help="Jobs per page (1-100) [default: 20].")
@click.option("--cursor", help="next_cursor of the previous page.")
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@click.pass_obj
def list_jobs(obj: Options, status, limit, cursor, as_json) -> int:
    """List jobs, newest first (GET /v1/jobs)."""
    target = obj.target
    try:
        page = target.api.list_jobs(status, limit, cursor)
    except ApiError as exc:
        if exc.status == 404 and exc.code in (None, "route_not_found"):
            raise CliError(f"listing needs a newer stack ({target.api_url} has no GET /v1/jobs)") from None
        raise
    if as_json:
        click.echo(json.dumps(page, indent=2))
        return 0
    for job in page.get("jobs") or []:
        click.echo(f"{job.get('job_id')}  {job.get('status', '?'):<9}  {job.get('provider', '?'):<10}  "
                   f"{job.get('model', '?'):<18}  {job.get('created_at', '')}")
    if page.get("next_cursor"):
        Reporter().say(f"more: {obj.again}list --cursor {page['next_cursor']}")
    return 0


@cli.command(short_help="Follow lifecycle events, one line each.")
@click.option("--queue-url", metavar="URL",
              help="Read an SQS queue you subscribed to the stack's bus instead (a stack without a WebSocket API).")
@click.option("--job", "job_id", metavar="JOB_ID",
              help="Only this job's events, until its terminal one (a finished job: its end, at once).")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many events.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Stop after this long.")
@click.option("--json", "raw", is_flag=True, help="Print each event as JSON.")
@click.pass_obj
def events(obj: Options, queue_url, job_id, count, timeout, raw) -> int:
    """Follow the lifecycle events of your jobs (Job Queued, Submitted, Succeeded, Failed, Cancelled), one line each,
    as they happen; Ctrl-C stops.

    They come over the stack's WebSocket API: every reader sees every event of the caller's jobs. With --job, the
    job's current state first, then its events until its end. With --queue-url, from an SQS queue instead (printed
    events are taken off it). Exit 1 if --count events did not come within --timeout.
    """
    target = obj.target
    reporter = Reporter()
    if queue_url:
        reporter.say(f"following events on {queue_url} (Ctrl-C to stop)")
        printed, interrupted = follow_events(target, queue_url, click.echo, job_id=job_id, count=count,
                                             timeout=timeout, raw=raw)
    else:
        url = websocket_url_of(target)
        if url is None:
            try:
                queue_url_of(target, None, obj.again[len("seedream "):])
            except CliError as exc:
                raise CliError(f"{no_websocket(target)}.\n{exc}") from None
            raise CliError(no_websocket(target))
        reporter.say(f"following events on {url} (Ctrl-C to stop)")
        with LiveEvents(target, url) as live:
            printed, interrupted = follow_live(live, click.echo, job_id=job_id, count=count, timeout=timeout, raw=raw)
    if count is not None and printed < count and not interrupted:
        raise CliError(f"{printed} of {count} events came within {timeout:g} s", exit_code=JOB_FAILED)
    return 0


@cli.command(short_help="The models at each provider: limits and prices.")
@click.option("--json", "as_json", is_flag=True, help="Print GET /v1/models as JSON.")
@click.pass_obj
def models(obj: Options, as_json) -> int:
    """Every model at every provider, from the stack's own tables (GET /v1/models): the limits a request is
    held to and the price its cost is estimated with.

    \b
    Columns: source images at most; outputs at most (source images + outputs at most);
    pixels in all (W×H) and px per side; prompt characters at most; the price and its
    basis: per run, per image requested (max_images) or per image produced; "*" marks a
    price the provider does not publish (the deployment's setting).
    """
    answer = obj.target.api.list_models()
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return 0
    rows = [("MODEL", "PROVIDER", "IMAGES", "OUTPUTS", "PIXELS", "SIDES", "PROMPT", "PRICE")]
    for offer in answer.get("models") or []:
        price = offer.get("price_usd")
        basis = {"per_run": "per run", "per_image_requested": "per image requested",
                 "per_image_produced": "per image produced"}.get(offer.get("price_basis"), offer.get("price_basis"))
        sizes = f" (sizes {','.join(offer['sizes'])})" if offer.get("sizes") else ""
        rows.append((offer["model"], offer["provider"], f"≤ {offer['max_input_images']}",
                     f"≤ {offer['max_outputs']} (≤ {offer['max_references_plus_outputs']} with sources)",
                     f"{_mega(offer['min_pixels'])}-{_mega(offer['max_pixels'])} MP",
                     f"{offer['min_side']}-{offer['max_side']}{sizes}", f"≤ {offer['max_prompt_chars']}",
                     (f"{usd(price)}{'' if offer.get('price_documented') else '*'} {basis}" if price is not None
                      else "not priced")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if any(not offer.get("price_documented") for offer in answer.get("models") or []):
        Reporter().say("* not published by the provider: the deployment's price setting (README, \"Providers\")")
    return 0


@cli.group(short_help="API keys for callers outside AWS: create, list, revoke.")
def keys() -> None:
    """API keys (Authorization: Bearer sk_…) for callers that cannot sign with SigV4. These commands are
    signed with your AWS credentials; a key acts as you: it sees and makes your jobs, on the key API's URL
    (the stack's KeyApiUrl output; locally http://127.0.0.1:$KEY_API_PORT, default 3001).

    \b
    Only the key's SHA-256 is stored: create prints the key once. API Gateway caches the
    authorizer's answer for a key up to 300 s, so a revoked key may work that long.
    """


@keys.command("create")
@click.option("--json", "as_json", is_flag=True, help="Print POST /v1/keys's answer as JSON.")
@click.pass_obj
def create_key(obj: Options, as_json) -> int:
    """Make an API key and print it (the only time it is shown)."""
    target = obj.target
    made = target.api.create_key()
    if as_json:
        click.echo(json.dumps(made, indent=2))
    else:
        click.echo(made["key"])
    reporter = Reporter()
    reporter.say(f"key {made['key_id']} acts as {made['owner']}; it is not shown again: keep it in a secret store")
    url = target.key_api_url
    reporter.say(f"use it: curl -H \"Authorization: Bearer {made['prefix']}…\" {url or '<KeyApiUrl>'}/v1/jobs")
    return 0


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print GET /v1/keys's answer as JSON.")
@click.pass_obj
def list_keys(obj: Options, as_json) -> int:
    """Your API keys, newest first: id, created, last used, revoked (never the key)."""
    answer = obj.target.api.list_keys()
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return 0
    rows = [("KEY_ID", "PREFIX", "CREATED", "LAST USED", "STATE")]
    for key in answer.get("keys") or []:
        rows.append((key["key_id"], f"{key['prefix']}…", key["created_at"], key.get("last_used_at") or "never",
                     f"revoked {key['revoked_at']}" if key.get("revoked") else "active"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


@keys.command("revoke")
@click.argument("key_id")
@click.pass_obj
def revoke_key(obj: Options, key_id) -> int:
    """Revoke one of your keys (its KEY_ID from seedream keys list); an unknown id: exit 2, key_not_found."""
    revoked = obj.target.api.revoke_key(key_id)
    click.echo(json.dumps(revoked, indent=2))
    Reporter().say(f"key {key_id} revoked at {revoked.get('revoked_at')} (a cached answer may let it through up "
                   "to 300 s)")
    return 0


def _mega(pixels: int) -> str:
    return f"{pixels / 1_000_000:.2f}".rstrip("0").rstrip(".")


@cli.command(short_help="Check a stack: outputs, keys, webhook, queues, alarms, schedule.")
@click.pass_obj
def doctor(obj: Options) -> int:
    """Check that a stack is ready, one line per check: ✔, or ✘ and what to do. Read-only: it creates
    no job, changes nothing and never prints a key.

    \b
    Checks: the stack's outputs; an api_key for every provider (all three are enabled);
    WaveSpeed's webhook secret (set, or fetchable with its key); the public webhook route
    answers 401 to an unsigned callback; the bus, the queues and their DLQs exist; the DLQs
    are empty; the alarm topic has a confirmed subscription; the reconcile schedule is enabled.

    \b
    Target: seedream --stack NAME doctor (CloudFormation with the default credential chain);
    without --stack, the local stack (make up). Exit 0 when every check holds, 1 when one
    does not, 2 when the stack cannot be read.
    """
    target = obj.stack_target
    reporter = Reporter()
    reporter.say(f"checking stack {target.stack} in {target.region}")
    failed = total = 0
    with target.aws_errors(f"checking stack {target.stack}"):
        for check in doctor_checks.Doctor(target).checks():
            click.echo(check.line())
            total += 1
            failed += not check.ok
    reporter.say(f"{total - failed} of {total} checks hold" if failed else f"all {total} checks hold")
    return CHECK_FAILED if failed else 0


@cli.command(short_help="Receive this stack's webhooks on 127.0.0.1, verify and print them.")
@click.option("--port", type=click.IntRange(0, 65535), default=9000, show_default=True,
              help="Port on 127.0.0.1 (0: any free one).")
@click.option("--secret", envvar="SEEDREAM_WEBHOOK_SECRET", metavar="WHSEC",
              help="The signing key [env SEEDREAM_WEBHOOK_SECRET; default: GET /v1/webhooks/default/secret].")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many verified deliveries.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Stop after this long.")
@click.option("--json", "as_json", is_flag=True, help="Print each message's payload as JSON.")
@click.pass_obj
def listen(obj: Options, port, secret, count, timeout, as_json) -> int:
    """A Standard Webhooks receiver on 127.0.0.1: verifies each delivery with the deployment's key and prints
    it, one line each (exit 1 if --count deliveries did not come within --timeout); Ctrl-C stops.

    \b
    With make up:  seedream listen --port 9000
    then:          seedream submit examples/astronaut.png --prompt "..." --webhook http://127.0.0.1:9000/
    """
    from .listen import Listener

    key = secret or obj.target.api.webhook_secret()
    reporter = Reporter()
    try:
        listener = Listener(port, key, click.echo, lambda text: reporter.say(f"warning: {text}"), as_json=as_json,
                            count=count)
    except OSError as exc:
        raise CliError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    reporter.say(f"listening on {listener.url} (give it as a job's webhook; Ctrl-C to stop)")
    if not listener.serve(timeout) and count is not None:
        raise CliError(f"{listener.verified} of {count} deliveries came within {timeout:g} s", exit_code=JOB_FAILED)
    return 0
