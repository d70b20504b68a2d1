"""Fidelity: BytePlus' own Python SDK (``byteplus-python-sdk-v2``, module ``byteplussdkarkruntime``), its ``Ark``
client pointed at the simulator, streams a series with ``images.generate(..., stream=True)`` and reads every event,
and gets the synchronous answer too: the simulator answers as ModelArk's own client expects."""

from __future__ import annotations

import httpx
import pytest

from .helpers import download_series

arkruntime = pytest.importorskip("byteplussdkarkruntime")  # requirements-dev.txt pins it; a test-only dependency
from byteplussdkarkruntime.types.images.images import SequentialImageGenerationOptions  # noqa: E402

KEY = "ark-test-key"


def client(sim):
    return arkruntime.Ark(base_url=f"{sim.base_url}/api/v3", api_key=KEY, max_retries=0, timeout=60)


def test_the_official_client_streams_the_series_from_the_simulator(sim, images):
    stream = client(sim).images.generate(model="seedream-4-5-251128", prompt="a series", image=[images["photo"]],
                                          size="2560x1440", sequential_image_generation="auto",
                                          sequential_image_generation_options=SequentialImageGenerationOptions(max_images=3),
                                          response_format="url", watermark=False, stream=True)
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds == ["image_generation.partial_succeeded"] * 3 + ["image_generation.completed"]
    assert [event.image_index for event in events[:3]] == [0, 1, 2]
    assert events[-1].usage["generated_images"] == 3  # the SDK types the completed event's usage as a dict
    with httpx.Client(trust_env=False) as http:
        download_series(http, [event.url for event in events[:3]], (2560, 1440))


def test_the_official_client_reads_the_synchronous_answer(sim, images):
    reply = client(sim).images.generate(model="seedream-4-0-250828", prompt="one image", image=images["photo"],
                                         size="1024x1024", response_format="url", watermark=False)
    assert len(reply.data) == 1 and reply.data[0].url and reply.data[0].size == "1024x1024"
    assert reply.usage.generated_images == 1
