"""Property: whatever JSON a client sends, the request model either accepts it or raises a validation
error — never anything else (the door's "no input a client can send yields a 5xx")."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from seedream.models.requests import JobRequest

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
FIELDS = ["provider", "model", "prompt", "images", "max_images", "size", "seed", "metadata"]
urls = st.one_of(st.text(max_size=60), st.builds(lambda h, p: f"https://{h}/{p}", st.text(max_size=30),
                                                 st.text(max_size=20)))
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS + ["extra"]), json_values, max_size=9),
    st.fixed_dictionaries({"model": st.sampled_from(["seedream-v4", "seedream-v4.5", "x"]), "prompt": st.text(max_size=50),
                           "images": st.lists(urls, max_size=3), "max_images": st.integers(-2, 20),
                           "size": st.text(max_size=12)}),
    json_values,
)


@settings(max_examples=400, deadline=None)
@given(bodies, st.booleans())
def test_any_body_is_accepted_or_refused_with_a_validation_error(body, local):
    try:
        JobRequest.model_validate(body, context={"allow_loopback_http": local})
    except ValidationError:
        pass
