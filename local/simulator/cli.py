"""``python -m local.simulator --port 5060``: serve in the foreground until interrupted.

Prints ``{"base_url", "keys", "atlas_kid", "jwks_url"}`` as JSON once the server listens.
"""

from __future__ import annotations

import argparse
import json
import signal
import time

from .core import ProviderSimulator


def main(argv: list[str] | None = None) -> int:
    """``python -m local.simulator --port 5060``: serve in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="Local WaveSpeed / Atlas Cloud / evolink simulator")
    parser.add_argument("--port", type=int, default=5060)
    parser.add_argument("--generation-seconds", type=float, default=1.0)
    parser.add_argument("--keys", help="JSON file with {wavespeed:{api_key,webhook_secret},atlascloud:{api_key},"
                                       "evolink:{api_key}}; random keys when omitted")
    args = parser.parse_args(argv)
    keys = None
    if args.keys:
        with open(args.keys, encoding="utf-8") as fh:
            keys = json.load(fh)
    sim = ProviderSimulator(port=args.port, generation_seconds=args.generation_seconds, keys=keys)
    sim.start()

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(json.dumps({"base_url": sim.base_url, "keys": sim.keys, "atlas_kid": sim.atlas_kid,
                      "jwks_url": f"{sim.base_url}/api/v1/webhooks/jwks.json"}, indent=2), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0
