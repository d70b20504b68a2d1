"""fal's own Python client (``fal-client`` 1.0.3, pinned in requirements-dev.txt) runs jobs against the simulator:
the simulator answers as the client expects (submit, status, result, cancel, and the queue URLs it builds itself).

How it is pointed at us, with only its supported settings (read from its source, ``fal_client/auth.py`` and
``client.py``): ``FAL_KEY`` (the ``Key`` credentials) and ``FAL_QUEUE_RUN_HOST`` (the queue host, read once at import;
``FAL_RUN_HOST`` likewise). The client always builds ``https://{FAL_QUEUE_RUN_HOST}/…`` — there is no setting for
the scheme — so the simulator serves TLS here, with a certificate made for 127.0.0.1 in the test, which httpx (the
client's HTTP library) trusts through ``SSL_CERT_FILE``. Nothing of the client is patched.

The client runs in a subprocess (its hosts are module constants read at import). Its transport retries a failed
connection at a "backup domain" on the public internet; the subprocess resolves only loopback names, so no request
can leave 127.0.0.1.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import subprocess  # nosec B404 - runs the official client against the local simulator
import sys
import textwrap

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from local.simulator import ProviderSimulator

from .helpers import FAL_KEY, KEYS

pytest.importorskip("fal_client")

CLIENT_RUN = textwrap.dedent("""
    import json, socket, sys

    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):  # the test guard: nothing but 127.0.0.1 resolves
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror(f"refused to resolve {host!r} in this test")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = loopback_only

    import fal_client

    step, arguments = sys.argv[1], json.loads(sys.argv[2])
    app = "fal-ai/bytedance/seedream/v4/edit"
    handle = fal_client.submit(app, arguments=arguments)
    if step == "cancel":
        handle.cancel()  # raises on anything but 2xx
        print(json.dumps({"cancelled": handle.request_id}))
        sys.exit(0)
    result = handle.get()
    status = handle.status()
    again = fal_client.result(app, handle.request_id)  # the client rebuilds the request's URL itself
    print(json.dumps({"request_id": handle.request_id, "result": result, "status": type(status).__name__,
                      "again": again, "urls": [handle.status_url, handle.response_url, handle.cancel_url]}))
""")


def run_client(step: str, arguments: dict, env: dict) -> dict:
    run = subprocess.run([sys.executable, "-c", CLIENT_RUN, step, json.dumps(arguments)], env=env,  # noqa: S603  # nosec B603
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for IP 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "sim.pem", tmp_path / "sim.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_sim(tmp_path):
    cert_file, key_file = certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with ProviderSimulator(generation_seconds=0.2, keys=KEYS, tls=context) as sim:
        yield sim, cert_file


def test_fal_client_submits_waits_and_gets_the_images_from_the_simulator(tls_sim, images):
    sim, cert_file = tls_sim
    arguments = {"prompt": "a series of 2 images", "image_urls": [images["photo"]], "max_images": 2,
                 "image_size": {"width": 1024, "height": 1536}}
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY") and not k.startswith("FAL_")}
    env |= {"FAL_KEY": FAL_KEY, "FAL_QUEUE_RUN_HOST": f"127.0.0.1:{sim.port}", "FAL_RUN_HOST": f"127.0.0.1:{sim.port}",
            "SSL_CERT_FILE": cert_file, "NO_PROXY": "127.0.0.1", "FAL_HOME_DIR": os.devnull}
    answer = run_client("run", arguments, env)
    assert answer["status"] == "Completed" and answer["again"] == answer["result"]
    urls = [image["url"] for image in answer["result"]["images"]]
    assert len(urls) == 2 and all(u.startswith(f"{sim.base_url}/outputs/") for u in urls)
    for url in urls:  # real PNGs at the requested size
        body = httpx.get(url, verify=ssl.create_default_context(cafile=cert_file)).content
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
    base = f"{sim.base_url}/fal-ai/bytedance/requests/{answer['request_id']}"
    assert answer["urls"] == [f"{base}/status", base, f"{base}/cancel"]
    submit = sim.submits[0]
    assert submit["path"] == "/fal-ai/bytedance/seedream/v4/edit" and submit["headers"]["Authorization"] == f"Key {FAL_KEY}"
    assert submit["json"] == arguments
    assert sim.tasks[answer["request_id"]]["width"] == 1024
    sim.set_faults(generation_seconds=30)  # still running when the client cancels it
    cancelled = run_client("cancel", arguments, env)["cancelled"]
    assert [(c["request_id"], c["method"], c["answer"]) for c in sim.fal_cancels] == [
        (cancelled, "PUT", "CANCELLATION_REQUESTED")]
