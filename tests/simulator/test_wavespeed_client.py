"""WaveSpeed's official Python SDK (``wavespeed`` 2.x on PyPI, pinned in requirements-dev.txt) against the
simulator: ``Client.run`` submits an edit-sequential job, polls ``/api/v3/predictions/{id}/result`` and gets the
outputs — so the simulator answers as WaveSpeed's own SDK expects. Test-only: the SDK is never in the layer."""

from __future__ import annotations

import pytest
import wavespeed

from .helpers import WS_KEY, download_series


def test_the_official_sdk_runs_an_edit_sequential_job(sim, images, client):
    sdk = wavespeed.Client(api_key=WS_KEY, base_url=sim.base_url, max_retries=0)
    result = sdk.run("bytedance/seedream-v4/edit-sequential",
                     {"prompt": "Generate a series of 2 images of the astronaut", "images": [images["photo"]],
                      "size": "1024*1536", "max_images": 2}, timeout=30, poll_interval=0.1)
    assert len(result["outputs"]) == 2
    assert [image.size for image in download_series(client, result["outputs"], (1024, 1536))] == [(1024, 1536)] * 2


def test_the_official_sdk_reports_a_failed_task(sim):
    sim.set_faults(task_result="failed")
    sdk = wavespeed.Client(api_key=WS_KEY, base_url=sim.base_url, max_retries=0)
    with pytest.raises(RuntimeError, match="simulated generation failure"):
        sdk.run("bytedance/seedream-v4/edit-sequential", {"prompt": "Generate a series of 1 image", "images": [],
                                                          "size": "1024*1024", "max_images": 1},
                timeout=30, poll_interval=0.1)
