"""Local simulator of the Seedream edit-sequential providers: WaveSpeed, Atlas Cloud, evolink, Replicate, fal.ai and
BytePlus ModelArk.

One werkzeug server on 127.0.0.1 speaks all four protocols (their paths do not collide), signs
its callbacks the way each provider does, waits a configurable generation time and returns REAL
images: every input image URL is downloaded, the first source is cover-cropped to the requested
W×H and each panel of the series gets a different visible photo edit. Outputs are PNGs held in
memory and served at ``GET /outputs/{task_id}/{index}.png``.

Independence: this package deliberately imports nothing from the ``seedream`` package. It signs
callbacks from the documented recipes on its own, so that our verification code is tested against
an independent signer. Allowed imports: stdlib, werkzeug, Pillow, httpx, cryptography, standardwebhooks (Replicate
signs with the Standard Webhooks reference library, as its own servers do).

Modules, one concern each (each protocol module cites its facts with source tags: [doc] provider
docs, [code] third-party clients only, [inferred] our reading):

- ``wavespeed``, ``atlascloud``, ``evolink``, ``replicate``, ``fal``: each provider's endpoints, validation, reply and
  status shapes, callback body and signature; ``modelark``: synchronous, its JSON answer and its server-sent
  events (one per image), per-image content-filter refusals and a stream cut after N images;
- ``jobs``: the submit sequence and the generation job; ``delivery``: callbacks, retries and the
  ``callback`` faults; ``outputs``: output serving and the ``outputs`` faults;
- ``faults``: the fault switches (``FAULT_DEFAULTS``) and their validation;
- ``rendering``: input download and the photo edits (``render_series``);
- ``server``: routing and the HTTP server (werkzeug); ``core``: ``ProviderSimulator`` (state, lifecycle);
- ``cli``: ``python -m local.simulator``.

Simulator-only endpoints: ``POST /_sim/faults`` (JSON object of faults), ``DELETE /_sim/faults``,
``GET /_sim/faults``, ``GET /_sim/state`` (submits, callbacks, tasks, faults, ``jwks_fetches``,
``status_reads`` per provider and per task, current Atlas kid).

Run standalone: ``python -m local.simulator --port 5060`` prints base URL and keys as JSON.
"""

from .cli import main
from .core import ProviderSimulator
from .faults import FAULT_CHOICES, FAULT_DEFAULTS
from .rendering import render_series

__all__ = ["FAULT_CHOICES", "FAULT_DEFAULTS", "ProviderSimulator", "main", "render_series"]
