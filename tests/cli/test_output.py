"""What the command prints without a stack: an event's line, the contact sheet's layout."""

from __future__ import annotations

from PIL import Image

from seedream.models.events import DETAIL_TYPES, JobEvent
from seedream.models.origins import EventBridgeOrigin
from seedream_cli.events import describe
from seedream_cli.sheet import contact_sheet


def test_a_job_rejected_line_names_the_reference_and_the_error_and_no_none():
    detail = JobEvent.rejected(EventBridgeOrigin(event_id="e-1", source="shop.orders"), "order-7",
                               {"code": "invalid_request", "message": "max_images: Input should be less than or equal "
                                "to 15", "details": [{"field": "max_images"}]}, "2026-12-04T18:00:00+00:00")
    event = {"detail-type": DETAIL_TYPES["rejected"], "time": "2026-12-04T18:00:01Z", "detail": detail.model_dump(mode="json")}
    assert describe(event) == ("2026-12-04T18:00:00+00:00  Job Rejected   reference order-7  invalid_request: "
                               "max_images: Input should be less than or equal to 15")
    without = event | {"detail": detail.model_dump(mode="json") | {"reference": None}}
    assert describe(without) == ("2026-12-04T18:00:00+00:00  Job Rejected   no job  invalid_request: "
                                 "max_images: Input should be less than or equal to 15")


def test_a_job_line_names_the_job_provider_and_model():
    event = {"detail-type": "Job Succeeded", "detail": {"job_id": "j-1", "provider": "wavespeed", "model": "seedream-v4",
                                                        "outputs": ["s3://b/o/0.png"], "at": "2026-12-04T18:00:00Z"}}
    assert describe(event) == "2026-12-04T18:00:00Z  Job Succeeded  j-1  wavespeed seedream-v4  1 output"
    queued = {"detail-type": "Job Queued", "detail": event["detail"] | {"outputs": []}}
    assert describe(queued) == "2026-12-04T18:00:00Z  Job Queued     j-1  wavespeed seedream-v4"  # no "0 outputs"


def test_fourteen_outputs_wrap_into_rows(tmp_path):
    source = Image.new("RGB", (1024, 1024), "gray")
    outputs = [Image.new("RGB", (1024, 1024), (i * 15, 80, 160)) for i in range(14)]
    contact_sheet([source], outputs, tmp_path / "sheet.png")
    with Image.open(tmp_path / "sheet.png") as sheet:
        # 15 tiles of 320 px and 8 px gaps, at most 2048 px a row: 6 a row, 3 rows of 320 + 24 caption + 8 gap
        assert sheet.size == (8 + 6 * 328, 8 + 3 * 352)
    contact_sheet([source], outputs[:2], tmp_path / "small.png")
    with Image.open(tmp_path / "small.png") as sheet:
        assert sheet.size == (8 + 3 * 328, 360)  # one row, as before
