"""The scrubber redacts known key values exactly and key-shaped strings by pattern."""

from __future__ import annotations

from engine.live.secrets import REDACTED, Scrubber


def test_known_values_and_key_shapes_are_redacted():
    scrub = Scrubber.from_environment({"ANTHROPIC_API_KEY": "plainsecretvalue123"}).scrub
    text = (
        'key=plainsecretvalue123 auth="Bearer abcdefghijklmnop" '
        "sk-ant-api03-AAAAAAAAAAAAAAAA sk-proj-BBBBBBBBBBBBBBBBBBBB x-api-key: CCCCCCCCCCCC"
    )
    scrubbed = scrub(text)
    for secret in (
        "plainsecretvalue123",
        "abcdefghijklmnop",
        "sk-ant-api03",
        "BBBBBBBB",
        "CCCCCCCC",
    ):
        assert secret not in scrubbed
    assert scrubbed.count(REDACTED) == 5


def test_ordinary_text_and_short_values_are_left_alone():
    scrub = Scrubber(["abc"]).scrub
    text = "Essay A argues about a basket of skills; task-based learning"
    assert scrub(text) == text
