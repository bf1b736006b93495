"""hashes.video_text: a vPDQ signature's text round-trips, all three input forms read the same,
and poisoned input (control characters, other scripts' digits, signs, underscores, NaN/Infinity,
huge frame counts, duplicate frames, far timestamps, deep JSON) raises VideoHashTextError only."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashes.video_model import FrameHash
from hashes.video_text import (
    MAX_FRAMES,
    MAX_SECONDS,
    MAX_TEXT,
    VideoHashTextError,
    parse,
    to_text,
)

HEX = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
STAMP = st.integers(0, int(MAX_SECONDS * 1000)).map(lambda ms: ms / 1000)
FRAME = st.builds(
    FrameHash,
    pdq=HEX,
    quality=st.integers(0, 100),
    frame=st.integers(0, 999_999_999),
    timestamp=STAMP,
)
FRAMES = st.lists(FRAME, min_size=1, max_size=30, unique_by=lambda f: f.frame)
H = "0123456789abcdef" * 4


def reference_file(frames) -> str:
    """Meta's vpdq CLI hash file: one `frame,quality,hex,timestamp` line per frame."""
    return "".join(f.line() + "\n" for f in frames)


def threatexchange_json(frames) -> str:
    """python-threatexchange's VPDQ signal string: an object keyed by frame number."""
    return json.dumps(
        {
            str(f.frame): {"quality": f.quality, "hash": f.pdq, "timestamp": f.timestamp}
            for f in frames
        }
    )


def json_list(frames) -> str:
    return json.dumps(
        [
            {
                "frame_number": f.frame,
                "quality": f.quality,
                "pdq_hex": f.pdq,
                "timestamp": f.timestamp,
            }
            for f in frames
        ]
    )


def lines(frames) -> list[str]:
    return [f.line() for f in frames]


def valid(frames: tuple[FrameHash, ...]) -> None:
    """What every parsed signature satisfies, whatever the input was."""
    assert 1 <= len(frames) <= MAX_FRAMES
    numbers = [f.frame for f in frames]
    assert numbers == sorted(set(numbers))
    for f in frames:
        assert len(f.pdq) == 64 and set(f.pdq) <= set("0123456789abcdef")
        assert 0 <= f.quality <= 100 and f.frame >= 0
        assert 0 <= f.timestamp <= MAX_SECONDS and f.timestamp == round(f.timestamp, 3)


@settings(max_examples=200, deadline=None)
@given(frames=FRAMES)
def test_every_form_reads_back_the_same_frames(frames):
    ordered = sorted(frames, key=lambda f: f.frame)
    text = to_text(frames)
    assert lines(parse(text)) == lines(ordered)
    assert to_text(parse(text)) == text  # canonical: a fixed point
    for form in (reference_file(frames), threatexchange_json(frames), json_list(frames)):
        assert to_text(parse(form)) == text
    shuffled = ";".join(reversed(text.split(";")))
    assert to_text(parse(shuffled)) == text  # frame order, whatever the input order


def test_a_real_signature_round_trips():
    from hashes.video import video_signature
    from tests.video_fixtures import clip

    signature = video_signature(clip(7, seconds=5))
    text = to_text(signature)
    assert (
        len(signature.frames) >= 4
        and "\n" not in text
        and text.count(";") == len(signature.frames) - 1
    )
    assert lines(parse(text)) == lines(signature.frames)
    assert lines(parse(signature.to_text())) == lines(signature.frames)  # the reference's file
    assert to_text(parse(threatexchange_json(signature.frames))) == text


def test_threatexchange_float_timestamps_and_exponents_are_read():
    long = json.dumps({"0": {"quality": 90, "hash": H, "timestamp": 0.9666666666666667}})
    assert parse(long)[0].timestamp == 0.967
    assert parse(f"0,90,{H},1e-05")[0].timestamp == 0.0
    assert parse(f" 3 , 90 , {H.upper()} , 2.5 \r\n")[0] == FrameHash(H, 90, 3, 2.5)
    assert parse(f"0,100,{H},{MAX_SECONDS:.3f}")[0].timestamp == MAX_SECONDS


POISON = [
    "",
    "   \n ; ;",
    "0,100,{h},0.0,extra",
    "0,100,{h}",
    "\u0661,100,{h},0.0",  # Arabic-Indic digit one
    "0,\u0661\u0660\u0660,{h},0.0",
    "0,100,{h},\u0661",
    "0,100,{h},\u0661e0",
    "0,100,{h},1_0",
    "0,100,{h},1_0e0",
    "1_0,100,{h},0",
    "+1,100,{h},0",
    "-1,100,{h},0",
    "0,+100,{h},0",
    "0,100,{h},-0.5",
    "0,100,{h},+0.5",
    "0,100,{h},-1e-05",
    "0,100,{h},nan",
    "0,100,{h},NaN",
    "0,100,{h},inf",
    "0,100,{h},Infinity",
    "0,100,{h},1e999",
    "0,100,{h},1e+16",
    "0,101,{h},0",
    "0,100,{h},172800.001",
    "0,100,{h},99999999999",
    "1234567890,100,{h},0",
    "0,100,{h},0;0,90,{h},1",  # the same frame twice
    "0,100,{h},0;00,90,{h},1",  # twice, spelled differently
    "0,100,{h}\x00,0",
    "0,100,{h}\x1f,0",
    "0,100,{h}\x85,0",  # NEL: str.strip() would drop it
    "0,100,{h}\u2028,0",
    "0,100,\u00a0{h},0",
    "0,100,{h}\u200b,0",
    "0,100,{h_arabic},0",
    "0,100,0x{h62},0",
    "0,100,{h63},0",
    "0,100,{h65},0",
    "{{",
    "[1, 2]",
    "[]",
    "{{}}",
    '{{"0": 5}}',
    '{{"0": {{"quality": 100, "hash": "{h}", "timestamp": NaN}}}}',
    '{{"0": {{"quality": 100, "hash": "{h}", "timestamp": Infinity}}}}',
    '{{"0": {{"quality": 100, "hash": "{h}", "timestamp": -Infinity}}}}',
    '{{"0": {{"quality": 100, "hash": "{h}", "timestamp": 1e400}}}}',
    '{{"0": {{"quality": true, "hash": "{h}", "timestamp": 0}}}}',
    '{{"0": {{"quality": 100.0, "hash": "{h}", "timestamp": 0}}}}',
    '{{"0": {{"quality": 100, "hash": 5, "timestamp": 0}}}}',
    '{{"0": {{"quality": 100, "hash": "{h}"}}}}',
    '{{"-1": {{"quality": 100, "hash": "{h}", "timestamp": 0}}}}',
    '{{"\u0661": {{"quality": 100, "hash": "{h}", "timestamp": 0}}}}',
    '{{"0": {{"quality": 100, "hash": "{h}", "timestamp": 0}}, '
    '"0": {{"quality": 90, "hash": "{h}", "timestamp": 1}}}}',
    '[{{"frame_number": true, "quality": 100, "hash": "{h}", "timestamp": 0}}]',
    '[{{"frame_number": 1.5, "quality": 100, "hash": "{h}", "timestamp": 0}}]',
    '[{{"frame_number": {big}, "quality": 100, "hash": "{h}", "timestamp": 0}}]',
]


@pytest.mark.parametrize("template", POISON)
def test_poisoned_input_is_refused_with_a_safe_message(template):
    text = template.format(
        h=H,
        h62=H[:62],
        h63=H[:63],
        h65=H + "a",
        h_arabic=H[:-1] + "\u0661",
        big="9" * 5000,
    )
    with pytest.raises(VideoHashTextError) as caught:
        parse(text)
    message = str(caught.value)
    assert H not in message and len(message) < 200 and message.isprintable()


def test_deep_json_and_bounds_are_refused():
    for text in ("[" * 100_000 + "]" * 100_000, "{" + '"a":{' * 50_000):
        with pytest.raises(VideoHashTextError):
            parse(text)
    with pytest.raises(VideoHashTextError, match="longer than"):
        parse(" " * (MAX_TEXT + 1))
    with pytest.raises(VideoHashTextError, match="must be text"):
        parse(b"0,100," + H.encode() + b",0")  # type: ignore[arg-type]
    too_many = ";".join(f"{n},1,{H},0" for n in range(MAX_FRAMES + 1))
    with pytest.raises(VideoHashTextError, match="more than"):
        parse(too_many)
    most = parse(";".join(f"{n},1,{H},0" for n in range(MAX_FRAMES)))
    assert len(most) == MAX_FRAMES


POISON_CHARS = st.sampled_from(
    list("\x00\x01\x1b\x1f\x7f\x85\xa0\u2028\u2029\u202e\ufeff_+-.eE,;{}[]\"'\\")
    + ["\u0661", "\uff11", "\U0001d7cf", "NaN", "Infinity", "1e999", "9" * 12, "\r", "\n", "\t"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=FRAMES,
    form=st.sampled_from([to_text, reference_file, threatexchange_json, json_list]),
    edits=st.lists(st.tuples(st.integers(0, 10**6), POISON_CHARS), min_size=1, max_size=4),
)
def test_any_poisoned_signature_gives_valid_frames_or_the_error(frames, form, edits):
    text = form(frames)
    for at, poison in edits:
        at %= len(text) + 1
        text = text[:at] + poison + text[at:]
    try:
        got = parse(text)
    except VideoHashTextError as exc:
        assert len(str(exc)) < 200
        return
    valid(got)
    assert to_text(parse(to_text(got))) == to_text(got)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_gives_valid_frames_or_the_error(text):
    try:
        got = parse(text)
    except VideoHashTextError:
        return
    valid(got)
