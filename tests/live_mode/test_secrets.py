"""The scrubber redacts known key values exactly and keys by their real shapes, as whole tokens,
and leaves prose alone (issue 13: 7 of 7 prose samples were damaged, and essay ids with them)."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.live.secrets import REDACTED, Scrubber, looks_random

scrub = Scrubber().scrub

# ---- prose survives ------------------------------------------------------------------------

PROSE = [
    "The essay applies risk-assessment-frameworks to a school trip.",
    "The bearer responsibilities of a guardian are set out in the second paragraph.",
    "Task-based learning helps pupils build sk-ills, the writer jokes.",
    "A skeleton-key argument opens every door and persuades no one.",
    "The desk-analysis-report compares three desk-based studies.",
    "In the appendix, x-api-keys are discussed as an example of jargon.",
    "Essays essay-sk-anthology-01 and essay-sk-anthology-02 share a prompt.",
    "The student's ask-the-expert section cites a well-known case-study.",
    "Bearer bonds were popular before the war, she notes.",
    "He calls himself the bearer of bad news about the long-term plan.",
    "Check the risk-based, evidence-led and sk-based approaches side by side.",
    "The kiosk-management-system-overview chapter is the weakest.",
    "Authorization is needed before the trip, and the x-api-key idea is a metaphor.",
    "Her husk-and-kernel image is vivid; the task-sk-oriented plan less so.",
    "Whisk-together-the-ingredients-carefully is the recipe's only instruction.",
    "An API key, the essay says, is like a house key: lose it and anyone can enter.",
    "Bearer-of-the-flag imagery runs through the 2024 speech.",
    "The sk-learn-2024-workshop-notes-and-slides were attached as evidence.",
    "The Bearer Responsibilities Handbook is quoted in full.",
    "The tusk-shaped-ornament-collection is described in loving detail.",
    "Compare ANCHOR_a03_6f1c2e9a with student-011 and essay-sk-ant-review-07.",
    "The bearer token metaphor (a ticket anyone can use) is apt.",
    "She uses mask-wearing-guidelines and brisk-walking-routines as examples.",
    "A well-organised, sk-adjacent coinage: asking-for-feedback-regularly.",
]


@pytest.mark.parametrize("sentence", PROSE)
def test_prose_with_hyphenated_and_key_like_words_survives_unchanged(sentence):
    assert scrub(sentence) == sentence


def test_essay_ids_in_a_trace_line_survive_unchanged():
    line = json.dumps(
        {
            "kind": "cj.pair",
            "essay_a_id": "essay-sk-anthology-01",
            "essay_b_id": "risk-assessment-frameworks",
            "justification": "The bearer responsibilities essay is clearer.\nsk-ills matter.",
        }
    )
    assert scrub(line) == line


# ---- every key shape is redacted -----------------------------------------------------------

ANTHROPIC = (
    "sk-ant-api03-" + "Zq8XwV3nT0pL9kR2sY7bH4mC6dF1gJ5aE8uI0oP3lK7jN2hB6vC9xM4zQ1wE5rT8y-Ab3Cd_AA"
)
ANTHROPIC_ADMIN = (
    "sk-ant-admin01-" + "pQ7rS2tU9vW4xY1zA6bC3dE8fG5hI0jK7lM2nO9pQ4rS1tU6vW3xY8zA5bC0dE7f-Gh2IjAA"
)
OPENAI_PROJECT = (
    "sk-proj-" + "Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7jKl0nOp3rSt6vWx9zA_2cDe5gHi8kLm1oPq4sTu"
)
OPENAI_SERVICE = (
    "sk-svcacct-" + "Xy7zAb0cDe3fGh6iJk9lMn2oPq5rSt8uVw1xYz4aBc7dEf0gHi3jKl6mNo9pQr2sTu5vWx8y"
)
OPENAI_ADMIN = (
    "sk-admin-" + "Mn4oPq7rSt0uVw3xYz6aBc9dEf2gHi5jKl8mNo1pQr4sTu7vWx0yZa3bCd6eFg9hIj2kLm5n"
)
OPENAI_LEGACY = "sk-" + "Rk3mT9qLw2Zp8Xv5Bn1C" + "T3BlbkFJ" + "9aZ4qW7eR2tY5uI8oP1s"  # 48 after sk-
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

KEYS = {
    "anthropic": ANTHROPIC,
    "anthropic admin": ANTHROPIC_ADMIN,
    "openai project": OPENAI_PROJECT,
    "openai service account": OPENAI_SERVICE,
    "openai admin": OPENAI_ADMIN,
    "openai legacy": OPENAI_LEGACY,
}

# (text with a secret, what the scrubber must make of it)
CASES = {
    **{
        f"{name} key in prose": (f"the key {key} leaked.", f"the key {REDACTED} leaked.")
        for name, key in KEYS.items()
    },
    "masked openai key": (
        "Incorrect API key provided: sk-proj-********************abcd.",
        f"Incorrect API key provided: {REDACTED}.",
    ),
    "authorization header": (f"Authorization: Bearer {JWT}", f"Authorization: Bearer {REDACTED}"),
    "authorization header, short token": (
        "authorization: bearer tok_1234",
        f"authorization: bearer {REDACTED}",
    ),
    "authorization in json": (
        json.dumps({"headers": {"Authorization": "Bearer abc.def"}}),
        json.dumps({"headers": {"Authorization": f"Bearer {REDACTED}"}}),
    ),
    "bare bearer token": (f"sent Bearer {JWT}.", f"sent Bearer {REDACTED}."),
    "bearer with a key": (f"Bearer {OPENAI_PROJECT}", f"Bearer {REDACTED}"),
    "x-api-key header": (f"x-api-key: {ANTHROPIC}", f"x-api-key: {REDACTED}"),
    "x-api-key header, other key": ("X-Api-Key: 9f8e7d6c5b4a39281706", f"X-Api-Key: {REDACTED}"),
    "x-api-key in json": (
        json.dumps({"x-api-key": "ak_Zq8XwV3nT0pL9kR2sY7b"}),
        json.dumps({"x-api-key": REDACTED}),
    ),
    "key inside a json string": (
        json.dumps({"text": f"note\n{OPENAI_LEGACY}\tend"}),
        json.dumps({"text": f"note\n{REDACTED}\tend"}),
    ),
    "key in a url": (
        f"GET https://api.example.com/v1/models?key={OPENAI_PROJECT}&page=2",
        f"GET https://api.example.com/v1/models?key={REDACTED}&page=2",
    ),
    "api_key in a url": (
        "https://example.com/x?api_key=Zq8XwV3nT0pL9kR2sY7b",
        f"https://example.com/x?api_key={REDACTED}",
    ),
    "header after a bearer that is not one": (  # a rejected match hid the header (hypothesis)
        "bearer Authorization: Bearer 0",
        f"bearer Authorization: Bearer {REDACTED}",
    ),
    "key after a labelled word": (
        f"x-api-key: required {OPENAI_LEGACY}",
        f"x-api-key: required {REDACTED}",
    ),
    "key in a path": (f"/keys/{ANTHROPIC_ADMIN}/revoke", f"/keys/{REDACTED}/revoke"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_key_shape_is_redacted_and_its_label_kept(case):
    text, expected = CASES[case]
    assert scrub(text) == expected


def test_known_values_from_the_environment_are_redacted_exactly_wherever_they_appear():
    scrub_known = Scrubber.from_environment(
        {"ANTHROPIC_API_KEY": "plainsecretvalue123", "OPENAI_API_KEY": "other-secret-value"}
    ).scrub
    text = "key=plainsecretvalue123 and xplainsecretvalue123x, other-secret-value; bearer of news"
    assert scrub_known(text) == (f"key={REDACTED} and x{REDACTED}x, {REDACTED}; bearer of news")


def test_short_known_values_are_not_redacted():
    text = "Essay A argues about a basket of skills; task-based learning"
    assert Scrubber(["abc", ""]).scrub(text) == text


@pytest.mark.parametrize(
    ("token", "random"),
    [
        ("responsibilities", False),  # a word
        ("risk-assessment-frameworks", False),  # words
        ("learn-2024-workshop", False),  # words and a year
        ("ISO27001-compliance", False),  # letters and digits, but shorter than a key's runs
        ("antidisestablishmentarianism", False),  # 28 letters: still a word's length
        ("a" * 31, True),  # longer than words are
        ("Zq8XwV3nT0pL9kR2", True),  # mixed letters and digits, 16 long
        ("Zq8XwV3nT0pL9kR", False),  # one short of the run length
        ("abcdefghijKLMNOPQRST", True),  # case changing inside a run
    ],
)
def test_a_token_looks_random_only_with_a_long_run_that_no_word_has(token, random):
    assert looks_random(token, run_min=16) is random


# ---- properties ----------------------------------------------------------------------------

_LOWER = st.text(string.ascii_lowercase, min_size=1, max_size=14)
_WORD = st.one_of(
    _LOWER,
    _LOWER.map(str.capitalize),
    st.text(string.ascii_uppercase, min_size=2, max_size=8),
    st.integers(0, 9999).map(str),
    st.lists(_LOWER, min_size=2, max_size=5).map("-".join),  # hyphenated compounds
    st.sampled_from(["sk", "ant", "api", "proj", "bearer", "Bearer", "x-api-keys", "key"]),
)
_PROSE_WORD = st.one_of(
    _WORD,
    st.lists(_WORD, min_size=2, max_size=4).map("-".join),  # "sk-ant-review", "essay-sk-01"
    _LOWER.map(lambda word: f"sk-{word}"),
)
_PROSE = st.lists(
    st.tuples(_PROSE_WORD, st.sampled_from([" ", " ", " ", ", ", ". ", "; ", " (", ") "])),
    max_size=30,
).map(lambda words: "".join(word + gap for word, gap in words).strip())

_BASE62 = string.ascii_letters + string.digits
_B64URL = _BASE62 + "-_"
# Every key has a long random run: keys are random base62/base64url bodies. (A run of 31 or more
# letters and digits is longer than any word, whatever its letters.)
_CORE = st.text(_BASE62, min_size=31, max_size=64)
_TAIL = st.text(_B64URL, max_size=40)
_KEY = st.one_of(
    st.builds(
        lambda kind, body: f"sk-ant-{kind}-{body}",
        st.sampled_from(["api03", "admin01", "oat01"]),
        st.text(_B64URL, min_size=8, max_size=100),
    ),
    st.builds(
        lambda kind, head, core, tail: f"sk-{kind}{head}{core}{tail}",
        st.sampled_from(["", "proj-", "svcacct-", "admin-", "None-"]),
        st.text(_B64URL, max_size=20),
        _CORE,
        _TAIL,
    ),
    st.builds(
        lambda stars, tail: f"sk-proj-{'*' * stars}{tail}",
        st.integers(4, 30),
        st.text(_BASE62, max_size=4),
    ),
)
_CREDENTIAL = st.text(_BASE62 + "_~+/-", min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(prose=_PROSE)
def test_random_prose_never_changes(prose):
    assert scrub(prose) == prose
    line = json.dumps({"justification": prose, "essay_id": prose[:40]})
    assert scrub(line) == line


@settings(max_examples=300, deadline=None)
@given(before=_PROSE, key=_KEY, after=_PROSE)
def test_a_key_in_random_prose_always_vanishes_and_the_prose_stays(before, key, after):
    assert scrub(f"{before} {key} {after}") == f"{before} {REDACTED} {after}"
    line = json.dumps({"text": f"{before}\n{key}\t{after}"})
    assert json.loads(scrub(line)) == {"text": f"{before}\n{REDACTED}\t{after}"}
    url = f"https://api.example.com/v1/messages?key={key}&beta=true"
    assert scrub(url) == f"https://api.example.com/v1/messages?key={REDACTED}&beta=true"


@settings(max_examples=200, deadline=None)
@given(
    before=_PROSE,
    header=st.sampled_from(["Authorization: Bearer ", '"authorization": "Bearer ', "x-api-key: "]),
    credential=st.one_of(_KEY, st.builds(str.__add__, _CORE, _TAIL)),
    after=_PROSE,
)
def test_a_credential_after_its_header_always_vanishes(before, header, credential, after):
    assert scrub(f"{before} {header}{credential} {after}") == f"{before} {header}{REDACTED} {after}"


@settings(max_examples=200, deadline=None)
@given(before=_PROSE, credential=_CREDENTIAL, after=_PROSE)
def test_after_authorization_and_its_scheme_any_credential_vanishes(before, credential, after):
    text = f"{before} Authorization: Bearer {credential} {after}"
    assert scrub(text) == f"{before} Authorization: Bearer {REDACTED} {after}"
