"""The scrubber at its edges (issue 18): every shape's length and run thresholds at, just below
and just above their values, every label and scheme in every letter case, a token's start and
end next to each neighbouring character, and the known values read from the environment."""

from __future__ import annotations

import json

import pytest

from engine.live.secrets import REDACTED, Scrubber

scrub = Scrubber().scrub

KEY = "sk-proj-Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7jKl0nOp3rSt6vWx9zA_2cDe5gHi8kLm1oPq4sTu"

# ---- a key next to a character that JSON writes as a \uXXXX escape --------------------------


@pytest.mark.parametrize(
    "before",
    ["\u201c", "\u2018", "\u00e9", "\u00a0", "\u2014", "\u0001"],
    ids=["left double quote", "left single quote", "e acute", "nbsp", "em dash", "control"],
)
def test_a_key_after_a_unicode_escape_in_a_json_line_is_redacted(before):
    # The run log writes each line with json.dumps, which escapes every non-ASCII character: a
    # key pasted between curly quotes became "\u201csk-proj-..." and was written out whole.
    line = json.dumps({"message": f"the key {before}{KEY}\u201d leaked"})
    assert scrub(line) == json.dumps({"message": f"the key {before}{REDACTED}\u201d leaked"})


def test_prose_with_unicode_escapes_in_a_json_line_survives_unchanged():
    line = json.dumps(
        {"message": "It\u2019s the bearer\u2019s caf\u00e9-sk-proj \u201csk-ills\u201d"}
    )
    assert scrub(line) == line
