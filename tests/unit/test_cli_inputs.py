"""Bad input to `veille detect`, `veille sentiment` and `veille generate`: a clear error, exit 2,
never a traceback; a bad line of sentiment input does not stop the lines after it."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli_helpers import assert_clear_error, run
from veille import demo, detect
from veille.spikes import Detector, inverse_anscombe

LARGEST = sys.float_info.max  # 1.7976931348623157e308


COMMAND = [sys.executable, "-m", "veille.cli"]


def veille(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command in a child process (as tests/unit/test_cli.py runs it)."""
    return subprocess.run([*COMMAND, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("timestamp,value\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


# --- veille detect ------------------------------------------------------------------------------


def test_detect_non_utf8_byte_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "s.csv"
    src.write_bytes(b"timestamp,value\n2026-03-02 00:00:00,1\n2026-03-02 00:05:00,caf\xe9\n")
    status, _, err = run(capsys, "detect", str(src), "--out", str(tmp_path / "out.csv"))
    assert_clear_error(status, err, "s.csv:3: not UTF-8 text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]  # nothing half-written


def test_detect_reads_a_csv_saved_by_excel_with_a_byte_order_mark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in review (2026-12-05): Excel's "CSV UTF-8" starts with a byte order mark, and the
    header read "\ufefftimestamp": refused as not naming the columns."""
    src, out = tmp_path / "bom.csv", tmp_path / "out.csv"
    src.write_bytes(b"\xef\xbb\xbftimestamp,value\r\n2026-01-01T00:00:00Z,1\r\n"
                    b"2026-01-01T00:05:00Z,2\r\n")
    status, _, err = run(capsys, "detect", str(src), "--out", str(out))
    assert status == 0, err
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("timestamp,value,") and len(rows) == 3


def test_detect_timestamp_outside_years_1_to_9999_names_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_csv(tmp_path / "s.csv", ["2026-03-02 00:00:00,1", "0001-01-01T00:00:00+01:00,2"])
    status, _, err = run(capsys, "detect", str(src), "--out", str(tmp_path / "out.csv"))
    assert_clear_error(status, err, "s.csv:3: bad timestamp '0001-01-01T00:00:00+01:00': outside years")


@pytest.mark.parametrize("value", ["1_000", "\u0661\u0662", "\uff11\uff12", "\u0967", "nan", " nan",
                                   "-inf", "Infinity", "0x10", "1e", "", " "])
def test_detect_value_that_is_no_plain_decimal_number_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """Found in review (2026-12-06): values were read with float(), which took `1_000` as 1000
    and Arabic-Indic or full-width digits as their ASCII ones, silently."""
    src = write_csv(tmp_path / "s.csv", ["2026-03-02 00:00:00,1", f'2026-03-02 00:05:00,"{value}"'])
    status, _, err = run(capsys, "detect", str(src), "--out", str(tmp_path / "out.csv"))
    assert_clear_error(status, err, f"s.csv:3: bad value {value!r}: a value is a decimal number")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]  # nothing half-written


def test_detect_reads_decimal_numbers_with_a_sign_a_point_or_an_exponent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = ["12", " 3.5 ", ".5", "5.", "+2", "1e3", "2.5E+1", "0", "-0"]
    start = datetime(2026, 3, 2, tzinfo=UTC)
    src = write_csv(tmp_path / "s.csv", [f"{start + timedelta(minutes=5 * i):%Y-%m-%d %H:%M:%S},{v}"
                                         for i, v in enumerate(values)])
    out = tmp_path / "out.csv"
    status, _, err = run(capsys, "detect", str(src), "--out", str(out))
    assert status == 0, err
    assert [line.split(",")[1] for line in out.read_text().splitlines()[1:]] == [v.strip() for v in values]


def test_detect_counts_near_the_largest_float_do_not_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    rows = [f"{start + timedelta(minutes=5 * i):%Y-%m-%d %H:%M:%S},{LARGEST if i % 7 == 0 else 0}"
            for i in range(3000)]
    src, out = write_csv(tmp_path / "s.csv", rows), tmp_path / "out.csv"
    status, _, err = run(capsys, "detect", str(src), "--out", str(out))
    assert status == 0, err
    scores = [float(line.split(",")[2]) for line in out.read_text().splitlines()[1:]]
    assert len(scores) == 3000 and all(0.0 <= s <= 1.0 for s in scores)


def test_detector_never_overflows_on_finite_counts() -> None:
    assert inverse_anscombe(2 * math.sqrt(LARGEST) * 1.01) == LARGEST  # was OverflowError
    assert inverse_anscombe(2.0 * math.sqrt(9.375)) == pytest.approx(9.0)  # ordinary: unchanged
    for pattern in ((LARGEST, 0.0), (LARGEST,), (LARGEST, LARGEST / 3, 5e-324, 1e154)):
        detector = Detector()
        start = datetime(2026, 3, 2, tzinfo=UTC)
        for i in range(600):
            score = detector.update(start + timedelta(minutes=5 * i), pattern[i % len(pattern)])
            assert all(math.isfinite(v) for v in (score.expected, score.z, score.anomaly_score))
        json.dumps(detector.to_state(), allow_nan=False)  # a state the streaming agent can store


def test_detect_field_over_the_csv_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "s.csv", ["2026-03-02 00:00:00,1", "2026-03-02 00:05:00," + "9" * 140_000])
    status, _, err = run(capsys, "detect", str(src), "--out", str(tmp_path / "out.csv"))
    assert_clear_error(status, err, "s.csv:3: unreadable CSV: field larger than field limit")


@pytest.mark.parametrize(
    ("series", "out", "message"),
    [
        ("s.csv", "folder", "folder: output must be a file name, not a directory"),
        ("folder", "out.csv", "folder: cannot read: Is a directory"),
        ("s.csv", "", "--out: empty path"),
        ("s.csv", "/", "/: output must be a file name"),
        ("s.csv", "s.csv/out.csv", "s.csv/out.csv: cannot write: Not a directory"),
        ("missing.csv", "out.csv", "missing.csv: cannot read: No such file or directory"),
    ],
)
def test_detect_bad_paths_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    series: str, out: str, message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "s.csv", ["2026-03-02 00:00:00,1"])
    (tmp_path / "folder").mkdir()
    status, _, err = run(capsys, "detect", series, "--out", out)
    assert_clear_error(status, err, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "s.csv"]


def test_detect_unwritable_output_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A path under a regular file: unwritable for anyone, root included, on any system (it was
    # /sys, skipped where there is none: a skip the suite must not have).
    src = write_csv(tmp_path / "s.csv", ["2026-03-02 00:00:00,1"])
    out = tmp_path / "s.csv" / "x.csv"
    status, _, err = run(capsys, "detect", str(src), "--out", str(out))
    assert_clear_error(status, err, f"{out}: cannot write:")


def test_detect_refuses_to_overwrite_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    src = write_csv(tmp_path / "s.csv", ["2026-03-02 00:00:00,1", "2026-03-02 00:05:00,2"])
    before = src.read_bytes()
    (tmp_path / "link.csv").symlink_to(src)
    other_spelling = f"./../{tmp_path.name}/s.csv"
    for series, out in (("s.csv", "s.csv"), ("s.csv", str(src)), ("s.csv", other_spelling),
                        ("link.csv", "s.csv"), ("s.csv.part", "s.csv")):
        if series == "s.csv.part":
            (tmp_path / "s.csv.part").write_bytes(before)
        status, _, err = run(capsys, "detect", series, "--out", out)
        assert_clear_error(status, err, "would overwrite the input")
        assert src.read_bytes() == before
        (tmp_path / "s.csv.part").unlink(missing_ok=True)


def test_detect_module_refuses_a_bucket_of_zero_seconds(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", ["2026-03-02 00:00:00,1"])
    with pytest.raises(SystemExit) as exc:  # was ZeroDivisionError
        detect.main([str(src), "--out", str(tmp_path / "out.csv"), "--bucket-seconds", "0"])
    assert exc.value.code == 2


def test_detect_through_the_real_command(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", ["2026-03-02 00:00:00,1"])
    out = veille("detect", str(src), "--out", str(src))
    assert out.returncode == 2 and out.stderr.startswith("veille: error: "), out.stderr
    assert "would overwrite the input" in out.stderr and "Traceback" not in out.stderr


# --- veille sentiment ---------------------------------------------------------------------------


def sentiment(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
              lines: list[str]) -> tuple[list[dict[str, object]], str]:
    stdin = io.TextIOWrapper(io.BytesIO("".join(line + "\n" for line in lines).encode()), "utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    status, out, err = run(capsys, "sentiment")
    rows = [json.loads(line) for line in out.splitlines()]
    errors = [r for r in rows if "error" in r]
    assert status == (1 if errors else 0) and "Traceback" not in err, err
    return [r for r in rows if "error" not in r], err


def test_sentiment_non_string_language_is_a_bad_line_and_the_next_ones_are_scored(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = json.dumps({"text": "I absolutely love this phone, great battery!", "language": "en"})
    bad = [json.dumps({"text": "great", "language": hint}) for hint in (5, ["en"], True, {"x": 1})]
    rows, err = sentiment(capsys, monkeypatch, [*bad, good, json.dumps({"text": "great", "language": None})])
    assert [r["label"] for r in rows] == ["positive", "positive"]
    for number, kind in enumerate(("int", "list", "bool", "dict"), 1):
        assert f"line {number}: `language` must be a string, not {kind}" in err


def test_sentiment_deeply_nested_json_is_a_bad_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, err = sentiment(capsys, monkeypatch, ['{"a":' * 100_000, "I absolutely love this phone!"])
    assert [r["label"] for r in rows] == ["positive"]
    assert "line 1: expected a JSON object with a string `text`" in err


def test_sentiment_into_a_closed_pipe_exits_quietly() -> None:
    reader, writer = os.pipe()
    os.close(reader)  # `| head -1` that has already exited
    try:
        out = subprocess.run([*COMMAND, "sentiment"], input="I love this phone\n" * 300, text=True,
                             stdout=writer, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(writer)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_sentiment_undecodable_byte_does_not_stop_the_stream() -> None:
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict")  # a locale whose stdin is strict
    out = subprocess.run([*COMMAND, "sentiment"], input=b"caf\xe9 great\nI absolutely love it!\n",
                         capture_output=True, env=env, timeout=60)
    assert out.returncode == 0 and b"Traceback" not in out.stderr, out.stderr
    assert [json.loads(line)["label"] for line in out.stdout.splitlines()][-1] == "positive"


# --- veille generate ----------------------------------------------------------------------------


@pytest.mark.parametrize("hours", ["inf", "1e400", "nan", "-1", "0", "8785"])
def test_generate_hours_must_be_finite_positive_and_bounded(tmp_path: Path, hours: str) -> None:
    target = tmp_path / "g.jsonl"
    out = veille("generate", "--hours", hours, "--out", str(target), timeout=20)
    assert_clear_error(out.returncode, out.stderr, "--hours must be a number > 0 and at most 8784")
    assert not target.exists()


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("9999-12-31T23:00:00", "--start 9999-12-31T23:00:00 + 9 h ends after year 9999"),
        ("0001-01-01T00:00:00+05:00", "--start: '0001-01-01T00:00:00+05:00' is outside years 1..9999"),
        ("yesterday", "--start: not an ISO 8601 date-time: 'yesterday'"),
    ],
)
def test_generate_start_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], start: str, message: str
) -> None:
    status, _, err = run(capsys, "generate", "--start", start, "--out", str(tmp_path / "g.jsonl"))
    assert_clear_error(status, err, message)
    assert "veille.demo" not in err  # the program is `veille`, not `python -m veille.demo`


def test_generate_near_the_end_of_time_still_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "g.jsonl"
    status, _, err = run(capsys, "generate", "--start", "9999-12-31T23:00:00", "--hours", "0.5",
                         "--out", str(target))
    assert status == 0, err
    assert json.loads(target.read_text().splitlines()[-1])["created_at"].startswith("9999-12-31T23:")


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("folder", "folder: cannot write: Is a directory"),
        ("afile/g.jsonl", "afile/g.jsonl: cannot write: a parent of it is a file"),
        ("afile/sub/g.jsonl", "afile/sub/g.jsonl: cannot write: a parent of it is a file"),
        ("", "--out: empty path"),
    ],
)
def test_generate_unwritable_output_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    out: str, message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    status, _, err = run(capsys, "generate", "--hours", "0.1", "--out", out)
    assert_clear_error(status, err, message)


def test_generate_errors_name_the_veille_command(tmp_path: Path) -> None:
    out = veille("generate", "--start", "0001-01-01T00:00:00+05:00", "--out", str(tmp_path / "g.jsonl"))
    assert_clear_error(out.returncode, out.stderr, "--start")
    assert "python -m veille.demo" not in out.stderr


@pytest.mark.parametrize("rate", ["-1", "nan", "inf"])
def test_demo_module_validates_the_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rate: str
) -> None:
    target = tmp_path / "g.jsonl"
    assert demo.main(["--hours", "0.1", "--rate", rate, "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m veille.demo: error: --rate must be a number of mentions per hour")
    assert not target.exists()


def test_generate_bounds_are_documented_and_enforced() -> None:
    start = demo.SAMPLE_START
    demo.check_options(start, demo.MAX_HOURS, demo.MAX_RATE)  # the bounds themselves are fine
    for hours, rate in ((demo.MAX_HOURS * 1.01, 600.0), (6.0, demo.MAX_RATE * 1.01), (6.0, 1e9)):
        with pytest.raises(demo.GenerateError):
            demo.check_options(start, hours, rate)
    with pytest.raises(ValueError, match="hours must be >= 0"):  # NaN generated nothing, silently
        list(demo.generate(start, math.nan))


def test_alerts_stopped_by_ctrl_c_does_not_say_there_is_no_event(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`veille alerts` (without --follow) says 'no alert event on TOPIC' when it read none; a
    Ctrl-C during the read said it too, of a topic it had not read to its end."""

    import veille.moderate.store
    from veille import cli

    class Reader:
        def __init__(self, settings, handlers, ordered=False) -> None:  # type: ignore[no-untyped-def]
            pass

        def refresh(self) -> None:
            raise KeyboardInterrupt

        def close(self) -> None:
            pass

    monkeypatch.setattr(veille.moderate.store, "TopicReader", Reader)
    monkeypatch.setattr(cli, "_reachable", lambda s: s)
    # From the parser: a Namespace written by hand missed --tz once it was added (AttributeError).
    args = cli.build_parser().parse_args(["alerts", "--interval", "2"])
    assert cli.cmd_alerts(args) == 0
    assert "no alert event" not in capsys.readouterr().err
