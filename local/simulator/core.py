"""``ProviderSimulator``: the state (tasks, outputs, logs, counters, keys, faults) and the lifecycle.

The HTTP layer is in ``server``, each provider's protocol in its own module, the job in ``jobs``,
callbacks in ``delivery``. One ``threading.RLock`` guards all mutable state; background jobs and
callback deliveries run in daemon threads and give up their waits when the simulator stops.
"""

from __future__ import annotations

import base64
import copy
import random
import secrets
import ssl
import string
import threading
import time
import uuid

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.serving import BaseWSGIServer
from werkzeug.wrappers import Request

from . import atlascloud, evolink, fal, replicate, server, wavespeed
from .common import TERMINAL, bearer_ok
from .faults import FAULT_DEFAULTS, check_faults
from .rendering import fetch_image

PROVIDERS = ("wavespeed", "atlascloud", "evolink", "replicate", "fal", "modelark")
WITH_STATUS_API = ("wavespeed", "atlascloud", "evolink", "replicate", "fal")
"""The providers with a status endpoint (ModelArk is synchronous: it has none)."""


class ProviderSimulator:
    """WaveSpeed + Atlas Cloud + evolink + Replicate + fal.ai + ModelArk on one loopback HTTP server (see the package
    docstring)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, generation_seconds: float = 1.0,
                 keys: dict | None = None, tls: ssl.SSLContext | None = None):
        if host not in ("127.0.0.1",):
            raise ValueError("the provider simulator only binds 127.0.0.1")
        self.host = host
        self.tls = tls
        """A server-side TLS context: serve ``https://`` (for clients that only speak https to a host they are given,
        like fal-client's ``FAL_QUEUE_RUN_HOST``); None serves plain ``http://``."""
        self.port = port
        self.generation_seconds = float(generation_seconds)
        self.keys = self._complete_keys(keys or {})
        self.retry_backoff: list[float] = [0.2, 0.4, 0.8]
        """Delays before callback retries 1..3 (len = number of retries)."""
        self.callback_timeout = 10.0
        self.replicate_output_seconds = 3600.0
        """How long a Replicate prediction's output files are served after it completed (an hour [doc]); 404 after."""
        self.evolink_models: set[str] = {"doubao-seedream-5.0-lite"}
        """evolink model ids accepted for Seedream 5.0-lite (the real id is undocumented)."""
        self.callbacks: list[dict] = []
        self.submits: list[dict] = []
        self.tasks: dict[str, dict] = {}
        self.jwks_fetches = 0
        self.status_reads: dict[str, int] = dict.fromkeys(WITH_STATUS_API, 0)
        """GETs of each provider's status endpoint, whatever they answered (per task: ``tasks[id]["status_reads"]``)."""
        self._faults = copy.deepcopy(FAULT_DEFAULTS)
        self._draws = random.Random()  # nosec B311 - which submits get a simulated 429, not a secret
        self.output_blobs: dict[tuple[str, int], bytes] = {}
        """The outputs served at ``/outputs/{task_id}/{index}.png``, by ``(task_id, index)`` (mutate under ``lock``)."""
        self.output_gets: dict[tuple[str, int], int] = {}
        """GETs each output answered with its bytes, by ``(task_id, index)`` (mutate under ``lock``)."""
        self._atlas_keys: list[tuple[str, Ed25519PrivateKey]] = []
        self._fal_keys: list[tuple[str, Ed25519PrivateKey]] = []
        self.fal_user_id = "sim-user-" + secrets.token_hex(6)
        """The ``X-Fal-Webhook-User-Id`` of fal webhooks (the account's user id)."""
        self.fal_cancels: list[dict] = []
        self.replicate_cancels: list[dict] = []
        """Every ``POST /v1/predictions/{id}/cancel`` Replicate answered: ``id`` and the prediction's ``status``."""
        """Every ``PUT …/requests/{id}/cancel`` fal received: ``request_id``, ``method``, ``answer``, ``at``."""
        self.fal_jwks_fetches = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._http = httpx.Client(timeout=30.0, follow_redirects=True, trust_env=False)
        self.rotate_atlas_key()
        self.rotate_fal_key()

    # -- keys --------------------------------------------------------------------------------
    @staticmethod
    def _complete_keys(keys: dict) -> dict:
        alnum = string.ascii_letters + string.digits
        ws = dict(keys.get("wavespeed") or {})
        ws.setdefault("api_key", "ws-" + secrets.token_hex(16))
        # valid base64 after the prefix, so a verifier that wrongly base64-decodes it gets a wrong key
        ws.setdefault("webhook_secret", "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
        atlas = dict(keys.get("atlascloud") or {})
        atlas.setdefault("api_key", "apikey-" + secrets.token_hex(16))
        evo = dict(keys.get("evolink") or {})
        evo.setdefault("api_key", "sk-" + "".join(secrets.choice(alnum) for _ in range(40)))
        rep = dict(keys.get("replicate") or {})
        rep.setdefault("api_key", "r8_" + "".join(secrets.choice(alnum) for _ in range(37)))
        rep.setdefault("webhook_secret", "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
        fal_key = dict(keys.get("fal") or {})
        fal_key.setdefault("api_key", f"{uuid.uuid4()}:{secrets.token_hex(16)}")  # fal keys are "key_id:key_secret"
        ark = dict(keys.get("modelark") or {})
        ark.setdefault("api_key", "ark-" + secrets.token_hex(16))
        return {"wavespeed": ws, "atlascloud": atlas, "evolink": evo, "replicate": rep, "fal": fal_key, "modelark": ark}

    def rotate_atlas_key(self, private_key: Ed25519PrivateKey | None = None, kid: str | None = None) -> str:
        """Switch to a new Atlas Cloud Ed25519 key (``private_key``, e.g. one a test made, or a fresh one);
        later callbacks are signed with it. Returns the new kid.

        The JWKS then serves the new key first, followed by the older ones."""
        kid = kid or "sim-" + secrets.token_hex(8)
        with self._lock:
            self._atlas_keys.append((kid, private_key or Ed25519PrivateKey.generate()))
        return kid

    @property
    def atlas_kid(self) -> str:
        """Key id of the Atlas Cloud key currently used to sign callbacks."""
        with self._lock:
            return self._atlas_keys[-1][0]

    def atlas_jwks(self) -> dict:
        """The JWKS document served at ``/api/v1/webhooks/jwks.json`` (newest key first)."""
        with self._lock:
            keys = list(reversed(self._atlas_keys))
        return {"keys": [atlascloud.jwk(kid, key) for kid, key in keys]}

    def rotate_fal_key(self, private_key: Ed25519PrivateKey | None = None) -> str:
        """Switch fal webhooks to a new Ed25519 key (``private_key`` or a fresh one); the JWKS serves it first,
        then the older ones (fal's callbacks name no key: a verifier tries each). Returns its JWK ``kid``."""
        kid = "fal-sim-" + secrets.token_hex(8)
        with self._lock:
            self._fal_keys.append((kid, private_key or Ed25519PrivateKey.generate()))
        return kid

    def fal_jwks(self) -> dict:
        """The JWKS document served at ``/.well-known/jwks.json`` (newest key first)."""
        with self._lock:
            keys = list(reversed(self._fal_keys))
        return {"keys": [fal.public_jwk(kid, key) for kid, key in keys]}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ProviderSimulator:
        """Bind 127.0.0.1 and serve in a daemon thread. Returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server, self._thread = server.serve(self, self.host, self.port, self.tls)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving, abort pending waits of background jobs, close the listening socket."""
        self._stopping.set()
        srv, self._server = self._server, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for worker in list(self._workers):
            worker.join(timeout=2)
        self._workers.clear()

    def close(self) -> None:
        """``stop()`` and release the outgoing HTTP client."""
        self.stop()
        self._http.close()

    def __enter__(self) -> ProviderSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https://`` with ``tls``; the port is known after ``start()``)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # -- faults ------------------------------------------------------------------------------
    def set_faults(self, **faults) -> dict:
        """Set faults (names in ``FAULT_DEFAULTS``); unnamed faults keep their value. Returns all faults."""
        checked = check_faults(faults)
        with self._lock:
            self._faults.update(checked)
            if "seed" in checked:
                self._draws.seed(checked["seed"])
            return copy.deepcopy(self._faults)

    def reset_faults(self) -> dict:
        """Back to normal behaviour for every fault. Returns the faults."""
        with self._lock:
            self._faults = copy.deepcopy(FAULT_DEFAULTS)
            self._draws.seed(None)
            return copy.deepcopy(self._faults)

    @property
    def faults(self) -> dict:
        """A copy of the current faults."""
        with self._lock:
            return copy.deepcopy(self._faults)

    def _take_submit_error(self) -> int | None:
        """The status a submit is answered with instead of being handled: the next ``submit_errors``, else a 429
        for a ``submit_429_share`` of submits; None to handle it."""
        with self._lock:
            if self._faults["submit_errors"]:
                return self._faults["submit_errors"].pop(0)
            share = self._faults["submit_429_share"]
            if share and self._draws.random() < share:
                return 429
        return None

    # -- inspection --------------------------------------------------------------------------
    def state(self) -> dict:
        """Summary served at ``GET /_sim/state``: submits count, callbacks without bodies, tasks (each with
        its ``status_reads``), faults, JWKS fetches, status reads per provider, the current Atlas kid."""
        with self._lock:
            return {
                "submits": len(self.submits),
                "callbacks": [{k: v for k, v in c.items() if k != "body"} | {"body_bytes": len(c["body"])}
                              for c in self.callbacks],
                "tasks": {tid: {"provider": t["provider"], "model": t["model"], "status": t["status"],
                                "count": t["count"], "size": [t["width"], t["height"]],
                                "outputs": len(t["outputs"]), "error": t["error"],
                                "status_reads": t["status_reads"]}
                          for tid, t in self.tasks.items()},
                "faults": copy.deepcopy(self._faults),
                "jwks_fetches": self.jwks_fetches,
                "status_reads": dict(self.status_reads),
                "atlas_kid": self._atlas_keys[-1][0],
                "fal_jwks_fetches": self.fal_jwks_fetches,
                "fal_cancels": [dict(c) for c in self.fal_cancels],
                "replicate_cancels": [dict(c) for c in self.replicate_cancels],
            }

    def wait_for_task(self, task_id: str, timeout: float = 10.0) -> dict:
        """Block until ``task_id`` reaches a terminal status; returns a copy of its state.
        ``TimeoutError`` after ``timeout`` s (always for a ``task_result="hang"`` task)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                task = self.tasks.get(task_id)
                if task and task["status"] in TERMINAL:
                    return dict(task)
            time.sleep(0.02)
        raise TimeoutError(f"task {task_id} did not finish within {timeout} s")

    # -- public helpers for the provider modules (new modules use only these) ------------------
    @property
    def lock(self) -> threading.RLock:
        """The lock that guards every mutable attribute (tasks, outputs, counters)."""
        return self._lock

    def authorized(self, request: Request, provider: str) -> bool:
        """True when ``request`` carries ``provider``'s key as ``Authorization: Bearer``."""
        return bearer_ok(request, self.keys[provider]["api_key"])

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` began: background jobs and deliveries give up."""
        return self._stopping.is_set()

    @property
    def http(self) -> httpx.Client:
        """The simulator's own HTTP client (fetching inputs, delivering callbacks); loopback only."""
        return self._http

    def take_submit_error(self) -> int | None:
        """The status to answer the next submit with instead of handling it (``submit_errors``, ``submit_429_share``)."""
        return self._take_submit_error()

    def record_submit(self, provider: str, request: Request, body, status: int) -> None:
        """Log one submit (``submits``) with the status it was answered."""
        self._record_submit(provider, request, body, status)

    def new_task(self, provider: str, spec: dict) -> dict:
        """A new task of ``provider`` from a parsed ``spec`` (faults captured); returns it (mutate under ``lock``)."""
        return self._new_task(provider, spec)

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds``; True (at once) when the simulator is stopping."""
        return self._stopping.wait(seconds)

    def fetch_sources(self, urls: list[str]) -> list:
        """The input images at ``urls`` as Pillow images (raises on any failure)."""
        return [fetch_image(self._http, url) for url in urls]

    def keep_output(self, task_id: str, index: int, blob: bytes) -> str:
        """Serve ``blob`` as output ``index`` of ``task_id``; returns its URL."""
        with self._lock:
            self.output_blobs[(task_id, index)] = blob
        return f"{self.base_url}/outputs/{task_id}/{index}.png"

    def status_read(self, provider: str, task_id: str, authorized: bool, view) -> dict | None:
        """Count one status read of ``provider``'s task ``task_id``; ``view(task)`` under the lock, or None when
        ``authorized`` is false or the task is not this provider's."""
        return self._status_read(provider, task_id, authorized, view)

    def task_view(self, task_id: str, view):
        """``view(task)`` under the lock for the task ``task_id`` (None: no such task)."""
        with self._lock:
            task = self.tasks.get(task_id)
            return None if task is None else view(task)

    def _record_submit(self, provider: str, request: Request, body, status: int) -> None:
        with self._lock:
            self.submits.append({
                "provider": provider, "path": request.path,
                "query": {k: v[0] if len(v) == 1 else v for k, v in request.args.lists()},
                "headers": dict(request.headers.items()), "json": body, "status": status, "at": time.time(),
            })

    def _status_read(self, provider: str, task_id: str, authorized: bool, view) -> dict | None:
        """Count one status read of ``provider`` (and of the task when it is answered); ``view(task)``,
        or None when unauthorized or the task is not this provider's."""
        with self._lock:
            self.status_reads[provider] += 1
            task = self.tasks.get(task_id)
            if not authorized or task is None or task["provider"] != provider:
                return None
            task["status_reads"] += 1
            return view(task)

    def _new_task(self, provider: str, spec: dict) -> dict:
        if provider == "replicate":  # 26 lowercase base32 characters, as Replicate's prediction ids [doc: examples]
            task_id = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
        elif provider == "evolink":
            alnum = string.ascii_lowercase + string.digits
            task_id = f"task-unified-{int(time.time())}-" + "".join(secrets.choice(alnum) for _ in range(8))
        else:
            task_id = uuid.uuid4().hex
        with self._lock:
            task = {
                "id": task_id, "provider": provider, "model": spec["model"],
                "api_model": spec["api_model"], "prompt": spec["prompt"], "images": list(spec["images"]),
                "count": spec["count"], "width": spec["width"], "height": spec["height"],
                "callback_url": spec.get("callback_url"), "base64": spec.get("base64", False),
                "status": "created", "error": "", "created_at": time.time(), "started_at": None,
                "completed_at": None, "outputs": [], "output_refs": [], "nsfw": False, "status_reads": 0,
                "faults": copy.deepcopy(self._faults),
            }
            task["faults"]["submit_errors"] = []
            task["protocol"] = dict(spec.get("protocol") or {})  # what one provider's module keeps on its tasks
            self.tasks[task_id] = task
            return task

    def spawn(self, target, task_id: str) -> None:
        """Run ``target(self, task_id)`` in a daemon thread that ``stop()`` joins."""
        worker = threading.Thread(target=target, args=(self, task_id), daemon=True, name=f"provider-sim-job:{task_id}")
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()

    def callback_message(self, task_id: str, wavespeed_status: str | None = None) -> tuple[bytes, dict]:
        """Body bytes and headers of the provider's callback for the task's current state, freshly signed."""
        with self._lock:
            task = self.tasks[task_id]
            if task["provider"] == "wavespeed":
                return wavespeed.callback(self, task, wavespeed_status)
            if task["provider"] == "atlascloud":
                kid, key = self._atlas_keys[-1]
                return atlascloud.callback(task, kid, key)
            if task["provider"] == "replicate":
                return replicate.callback(self, task, wavespeed_status)
            if task["provider"] == "fal":
                return fal.callback(self, task, self._fal_keys[-1][1])
            return evolink.callback(task)
