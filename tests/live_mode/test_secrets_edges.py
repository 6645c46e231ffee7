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


# ---- Anthropic keys: sk-ant-<2 to 12 letters><2 digits>-<8 or more characters> ---------------


@pytest.mark.parametrize(
    ("token", "redacted"),
    [
        ("sk-ant-api03-abcdefgh", True),  # a body of 8, all letters: the tag is enough
        ("sk-ant-api03-abcdefg", False),  # a body of 7
        ("sk-ant-ab03-abcdefgh", True),  # a kind of 2 letters
        ("sk-ant-a03-abcdefgh", False),  # a kind of 1 letter
        ("sk-ant-abcdefghijkl03-abcdefgh", True),  # a kind of 12 letters
        ("sk-ant-abcdefghijklm03-abcdefgh", False),  # a kind of 13 letters
        ("sk-ant-api3-abcdefgh", False),  # one digit after the kind
        ("sk-ant-api003-abcdefgh", False),  # three digits after the kind
        ("sk-ant-API03-abcdefgh", False),  # the kind in capitals
        ("SK-ANT-API03-ABCDEFGH", False),  # the prefix in capitals
    ],
)
def test_an_anthropic_key_is_redacted_only_in_its_exact_tagged_shape(token, redacted):
    text = f"key {token} end"
    assert scrub(text) == (f"key {REDACTED} end" if redacted else text)


# ---- OpenAI keys: sk- and a body of 20 or more with a random run of 16 or more --------------


@pytest.mark.parametrize(
    ("body", "redacted"),
    [
        ("Zq8XwV3nT0pL9kR2-abc", True),  # 20 long, a random run of 16
        ("Zq8XwV3nT0pL9kR2-ab", False),  # 19 long
        ("Zq8XwV3nT0pL9kR2sY7b", True),  # 20 long, all one run
        ("Zq8XwV3nT0pL9kR-abcd", False),  # 20 long, the random run 15
        ("abcdefghijklmnop-abc", False),  # 20 long, the long run a word's
        ("proj-Zq8XwV3nT0pL9kR2", True),  # a project key's tag and a run of 16
        ("proj-Zq8XwV3nT0pL9kR", False),  # the run 15
    ],
)
def test_an_openai_key_is_redacted_at_20_characters_with_a_run_of_16(body, redacted):
    text = f"key sk-{body} end"
    assert scrub(text) == (f"key {REDACTED} end" if redacted else text)


@pytest.mark.parametrize(
    ("token", "redacted"),
    [
        ("sk-****", True),  # four stars and nothing else
        ("sk-***", False),  # three
        ("sk-proj-****abcd", True),
        ("sk-proj-***abcd", False),
        ("sk-proj-****ab*d", True),  # stars in the tail too
    ],
)
def test_a_masked_key_is_redacted_from_four_stars(token, redacted):
    text = f"key {token} end"
    assert scrub(text) == (f"key {REDACTED} end" if redacted else text)


# ---- Authorization with a scheme: the credential, whatever it is ----------------------------

LABEL_CASES = ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"]
SCHEME_CASES = ["Bearer", "bearer", "BEARER", "Basic", "basic", "BASIC", "Token", "token", "TOKEN"]


@pytest.mark.parametrize("label", LABEL_CASES)
@pytest.mark.parametrize("scheme", SCHEME_CASES)
def test_authorization_with_a_scheme_redacts_even_a_one_letter_credential(label, scheme):
    assert scrub(f"{label}: {scheme} x") == f"{label}: {scheme} {REDACTED}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization=Bearer x", f"Authorization=Bearer {REDACTED}"),
        ("Authorization : Bearer x", f"Authorization : Bearer {REDACTED}"),
        ('"Authorization": "Bearer x"', f'"Authorization": "Bearer {REDACTED}"'),
        ("'Authorization':'Bearer x'", f"'Authorization':'Bearer {REDACTED}'"),
        ("Authorization: Bearer   x", f"Authorization: Bearer   {REDACTED}"),
        ("Authorization: Basic dXNlcjpwYXNz==", f"Authorization: Basic {REDACTED}"),
        ("Authorization: Bearer a.b.c.", f"Authorization: Bearer {REDACTED}."),  # a full stop
        ("Authorization: Bearer ~+/*-_", f"Authorization: Bearer {REDACTED}"),
        ("Authorization: Bearerx", "Authorization: Bearerx"),  # no space after the scheme
        ("xAuthorization: Bearer x", "xAuthorization: Bearer x"),  # the label inside a word
    ],
)
def test_authorization_separators_quotes_and_credential_characters(text, expected):
    assert scrub(text) == expected


# ---- a label without a scheme: the value, if any run of it is no word -----------------------

LABELS = [
    "x-api-key",
    "X-API-KEY",
    "X-Api-Key",
    "api_key",
    "API_KEY",
    "api-key",
    "Api-Key",
    "apikey",
    "APIKEY",
    "ApiKey",
    "authorization",
    "AUTHORIZATION",
]


@pytest.mark.parametrize("label", LABELS)
def test_every_label_in_every_case_redacts_a_two_character_random_value(label):
    assert scrub(f"{label}: a1") == f"{label}: {REDACTED}"
    assert scrub(f"{label}=a1") == f"{label}={REDACTED}"


@pytest.mark.parametrize("label", LABELS)
def test_every_label_keeps_a_word_value(label):
    assert scrub(f"{label}: required") == f"{label}: required"


@pytest.mark.parametrize(
    ("value", "redacted"),
    [
        ("abc", False),  # lower case
        ("Abc", False),  # capitalised
        ("ABC", False),  # capitals
        ("aB", True),  # case changing inside the run
        ("a1", True),  # a letter and a digit
        ("x" * 30, False),  # 30 letters: a word's length
        ("x" * 31, True),  # 31: longer than words are
        ("X" + "x" * 29, False),  # capitalised, 30
        ("X" + "x" * 30, True),  # capitalised, 31
        ("X" * 12, False),  # 12 capitals
        ("X" * 13, True),  # 13
        ("1" * 12, False),  # 12 digits
        ("1" * 13, True),  # 13
        ("long-words-only", False),
        ("long-words-and-a1", True),  # one run is enough
    ],
)
def test_a_labelled_value_is_redacted_when_one_run_is_no_word(value, redacted):
    text = f"x-api-key: {value}"
    assert scrub(text) == (f"x-api-key: {REDACTED}" if redacted else text)


# ---- a value after any Unicode space or in any Unicode quotes, raw and as JSON writes it -----

# How a line reaches the file: as it is, as the run log's json.dumps writes it (every non-ASCII
# character a "\uXXXX" escape, a straight quote '\"', a tab "\t"), and as JSON that keeps Unicode.
FORMS = {
    "raw": lambda text: text,
    "json": json.dumps,
    "json unicode": lambda text: json.dumps(text, ensure_ascii=False),
}
# Every character that \s matches but the plain space, each with its own JSON escape (the last of
# them is U+3000, the ideographic space).
SPACES = [chr(code) for code in range(0x3001) if chr(code).isspace() and chr(code) != " "]
# Unicode's Quotation_Mark property: the straight quotes, guillemets, curly and low-9 quotes,
# CJK brackets and their fullwidth and small forms.
QUOTES = "\"'\u00ab\u00bb\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2039\u203a\u2e42"
QUOTES += (
    "\u300c\u300d\u300e\u300f\u301d\u301e\u301f\ufe41\ufe42\ufe43\ufe44\uff02\uff07\uff62\uff63"
)
RANDOM = "Zq8XwV3nT0pL9kR2"  # no key's shape: redacted only after a label or a scheme


def leaks(form, texts):
    """Each (text, expected) whose written ``form`` the scrubber does not turn into the
    expected's written form."""
    return [text for text, expected in texts if scrub(form(text)) != form(expected)]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("label", LABELS)
def test_a_labelled_value_after_any_space_or_in_any_quotes_is_redacted(label, form):
    # 'x-api-key: \u201cZq8...\u201d' and "x-api-key:\u00a0Zq8..." were written out whole: the
    # label's pattern knew only straight quotes, and only spaces as they are, not as escapes.
    texts = [(f"{label}:{space}{RANDOM}", f"{label}:{space}{REDACTED}") for space in SPACES]
    texts += [(f"{label}: {q}{RANDOM}{q}", f"{label}: {q}{REDACTED}{q}") for q in QUOTES]
    texts += [(f"{q}{label}{q}:{q}{RANDOM}{q}", f"{q}{label}{q}:{q}{REDACTED}{q}") for q in QUOTES]
    assert leaks(FORMS[form], texts) == []


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("label", LABELS)
def test_a_word_after_a_label_stays_after_any_space_and_in_any_quotes(label, form):
    texts = [(f"{label}:{space}required", f"{label}:{space}required") for space in SPACES]
    texts += [(f"{label}: {q}required{q}", f"{label}: {q}required{q}") for q in QUOTES]
    assert leaks(FORMS[form], texts) == []


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("label", LABEL_CASES)
@pytest.mark.parametrize("scheme", SCHEME_CASES)
def test_authorization_and_its_scheme_after_any_space_or_in_any_quotes(label, scheme, form):
    # "Authorization:\u00a0Bearer\u00a0x" leaked in a JSON line: the credential, whatever it is,
    # is redacted after a scheme.
    texts = [
        (f"{label}:{space}{scheme}{space}x", f"{label}:{space}{scheme}{space}{REDACTED}")
        for space in SPACES
    ]
    texts += [(f"{label}: {q}{scheme} x{q}", f"{label}: {q}{scheme} {REDACTED}{q}") for q in QUOTES]
    assert leaks(FORMS[form], texts) == []


BEARER_KEPT = (f"{RANDOM}-ab", "responsibilities-of-guardians")  # 19 long; words


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("bearer", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_a_bare_bearer_token_after_any_space_is_redacted_and_words_stay(bearer, form):
    texts = [
        (f"sent {bearer}{space}{RANDOM}-abc now", f"sent {bearer}{space}{REDACTED} now")
        for space in SPACES
    ]
    kept = [f"sent {bearer}{space}{token} now" for space in SPACES for token in BEARER_KEPT]
    texts += [(text, text) for text in kept]
    assert leaks(FORMS[form], texts) == []


@pytest.mark.parametrize("form", FORMS)
def test_a_real_key_after_a_label_is_redacted_after_any_space_or_in_any_quotes(form):
    texts = [(f"x-api-key:{space}{KEY}", f"x-api-key:{space}{REDACTED}") for space in SPACES]
    texts += [(f"x-api-key: {q}{KEY}{q}", f"x-api-key: {q}{REDACTED}{q}") for q in QUOTES]
    assert leaks(FORMS[form], texts) == []


# ---- a bare Bearer: 20 or more characters with a random run of 16 or more -------------------


@pytest.mark.parametrize("bearer", ["Bearer", "bearer", "BEARER", "bEaReR"])
@pytest.mark.parametrize(
    ("token", "redacted"),
    [
        ("Zq8XwV3nT0pL9kR2-abc", True),  # 20 long, a random run of 16
        ("Zq8XwV3nT0pL9kR2-ab", False),  # 19 long
        ("Zq8XwV3nT0pL9kR2-abcd", True),  # 21 long
        ("Zq8XwV3nT0pL9kR-abcd", False),  # 20 long, the random run 15
        ("responsibilities-of-guardians", False),  # long, but words
    ],
)
def test_a_bare_bearer_token_is_redacted_from_20_characters_with_a_run_of_16(
    bearer, token, redacted
):
    text = f"sent {bearer} {token} now"
    assert scrub(text) == (f"sent {bearer} {REDACTED} now" if redacted else text)


def test_a_bearer_that_is_a_key_is_redacted_however_short_its_runs():
    # "sk-ant-api03-abcdefgh" has no run of 16, but it is an Anthropic key.
    assert scrub("Bearer sk-ant-api03-abcdefgh") == f"Bearer {REDACTED}"
    assert scrub("x-api-key: sk-ant-api03-abcdefgh") == f"x-api-key: {REDACTED}"
    assert scrub("x-api-key: sk-proj-****abcd") == f"x-api-key: {REDACTED}"


def test_a_bearer_that_is_a_masked_key_is_redacted_whole_not_only_its_anthropic_head():
    # The whole credential is a masked key; on its own, the token's longest key is the Anthropic
    # one before the stars ("sk-ant-api03-abcdefgh-****" alone leaves "****").
    assert scrub("Bearer sk-ant-api03-abcdefgh-****") == f"Bearer {REDACTED}"


# ---- where a token starts and ends ----------------------------------------------------------


@pytest.mark.parametrize("before", ["a", "Z", "7", "-", "_"])
def test_a_key_inside_a_longer_token_is_kept(before):
    for key in (KEY, "sk-ant-api03-abcdefgh", "sk-****"):
        assert scrub(f"{before}{key}") == f"{before}{key}"


@pytest.mark.parametrize("before", [" ", "(", '"', "'", "/", "=", ":", ",", ".", "\u00e9", "\t"])
def test_a_key_after_any_other_character_is_redacted(before):
    for key in (KEY, "sk-ant-api03-abcdefgh", "sk-****"):
        assert scrub(f"x{before}{key}") == f"x{before}{REDACTED}"


@pytest.mark.parametrize("escape", ["\\n", "\\r", "\\t", "\\b", "\\f", "\\u00e9", "\\u201C"])
def test_a_key_after_a_json_escape_is_redacted(escape):
    assert scrub(f'"note{escape}{KEY}"') == f'"note{escape}{REDACTED}"'


@pytest.mark.parametrize("escape", ["\\a", "\\x", "\\u00e", "\\uzzzz"])
def test_a_key_after_what_is_no_json_escape_is_kept(escape):
    text = f'"note{escape}{KEY}"'
    assert scrub(text) == text


@pytest.mark.parametrize("after", [".", ",", ")", '"', " ", "\u00e9", "\\n"])
def test_a_key_ends_at_any_character_that_no_token_holds(after):
    assert scrub(f"{KEY}{after}x") == f"{REDACTED}{after}x"


# ---- known values from the environment ------------------------------------------------------


def test_a_known_value_of_8_characters_is_redacted_and_one_of_7_is_not():
    assert Scrubber(["abcdefgh"]).scrub("xabcdefghx") == f"x{REDACTED}x"
    assert Scrubber(["abcdefg"]).scrub("xabcdefgx") == "xabcdefgx"


def test_the_longer_known_value_is_redacted_first():
    scrub_known = Scrubber(["abcdefgh", "abcdefgh12"]).scrub
    assert scrub_known("abcdefgh12 abcdefgh") == f"{REDACTED} {REDACTED}"


def test_without_a_mapping_the_key_variables_are_read_from_the_process_environment(
    monkeypatch,
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropicvalue1")
    monkeypatch.setenv("OPENAI_API_KEY", "openaivalue2")
    monkeypatch.setenv("OTHER_API_KEY", "othervalue3")
    scrub_env = Scrubber.from_environment().scrub
    text = "anthropicvalue1 openaivalue2 othervalue3"
    assert scrub_env(text) == f"{REDACTED} {REDACTED} othervalue3"


def test_a_mapping_is_read_instead_of_the_process_environment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropicvalue1")
    scrub_mapping = Scrubber.from_environment({"OPENAI_API_KEY": "openaivalue2"}).scrub
    text = "anthropicvalue1 openaivalue2"
    assert scrub_mapping(text) == f"anthropicvalue1 {REDACTED}"


def test_a_mapping_without_the_key_variables_redacts_only_shapes():
    scrub_none = Scrubber.from_environment({}).scrub
    text = f"plainvalue123 and {KEY}"
    assert scrub_none(text) == f"plainvalue123 and {REDACTED}"
