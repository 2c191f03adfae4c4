from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.data.sources import load_source, read_ckplus
from core.errors import DataError
from core.labels import DEFAULT_AUS
from core.summary import main as summary_main
from tests.conftest import Sequence, ck_float, make_ckplus, write_image


def vector(*present: int) -> tuple[int, ...]:
    return tuple(int(au in present) for au in DEFAULT_AUS)


def test_ckplus_reader_keeps_labelled_peak_frames_only(small_ckplus: Path):
    source = read_ckplus(small_ckplus)
    by_sequence = {r.sequence: r for r in source.records}
    assert sorted(by_sequence) == ["S005/001", "S005/002", "S010/001", "S010/002"]
    assert by_sequence["S005/001"].emotion == 0  # disgust -> negative
    assert by_sequence["S005/002"].emotion == 1  # happy -> positive
    assert by_sequence["S010/001"].emotion == 2  # surprise
    assert by_sequence["S010/002"].emotion == 0  # sadness -> negative
    assert by_sequence["S010/001"].path.name == "S010_001_00000004.png"
    assert by_sequence["S005/001"].aus == vector(9, 17)  # AU14 is outside the list
    assert by_sequence["S010/001"].aus == vector(1, 2, 5, 27)
    assert by_sequence["S005/002"].subject == "S005"


def test_ckplus_reader_reports_skips_with_reasons(small_ckplus: Path):
    reasons = {
        str(s.path.relative_to(small_ckplus)): s.reason for s in read_ckplus(small_ckplus).skipped
    }
    assert reasons == {
        "cohn-kanade-images/S011/001": "labelled sequence has no FACS file",
        "cohn-kanade-images/S011/003": "empty sequence folder",
    }


def test_peak_frames_label_the_last_frames(small_ckplus: Path):
    source = read_ckplus(small_ckplus, peak_frames=2)
    assert len(source.records) == 8
    names = sorted(r.path.name for r in source.records if r.sequence == "S010/001")
    assert names == ["S010_001_00000003.png", "S010_001_00000004.png"]


def test_custom_au_list_changes_the_vector(small_ckplus: Path):
    source = read_ckplus(small_ckplus, aus=(14, 17))
    record = next(r for r in source.records if r.sequence == "S005/001")
    assert record.aus == (1, 1)
    assert source.aus == (14, 17)


def test_summary_json_gives_exact_counts(small_ckplus: Path, capsys):
    assert summary_main([str(small_ckplus), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 4
    assert summary["subjects"] == 2
    assert summary["sequences"] == 4
    assert summary["emotions"] == {"negative": 2, "positive": 1, "surprise": 1}
    assert list(summary["aus"]) == [f"AU{au}" for au in DEFAULT_AUS]
    assert summary["aus"]["AU1"] == 2 and summary["aus"]["AU17"] == 1 and summary["aus"]["AU7"] == 0
    assert summary["sizes"] == {"64x48": 4}
    assert summary["colour"] == 1
    assert len(summary["skipped"]) == 2


def test_summary_writes_plots(small_ckplus: Path, tmp_path: Path, capsys):
    assert summary_main([str(small_ckplus), "--plots", str(tmp_path / "plots")]) == 0
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["aus_counts.png", "emotions_counts.png", "samples_per_emotion.png"]
    assert all((tmp_path / "plots" / n).stat().st_size > 1000 for n in names)
    assert "images 4, subjects 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("label_file", "content", "message"),
    [
        ("*_emotion.txt", "", "empty emotion file"),
        ("*_emotion.txt", "   happy\n", "'happy' is not a number"),
        (
            "*_emotion.txt",
            f"{ck_float(3)}{ck_float(4)}\n",
            "expected one emotion code, got 2 values",
        ),
        ("*_emotion.txt", f"{ck_float(9)}\n", "emotion code 9 is not one of 1-7"),
        ("*_emotion.txt", f"{ck_float(0)}\n", "emotion code 0 is not one of 1-7"),
        ("*_emotion.txt", f"{ck_float(3)}\n{ck_float(4)}\n", ":2: expected one emotion code"),
        ("*_facs.txt", f"{ck_float(4)}\n", ":1: expected two numbers (AU, intensity), got 1"),
        ("*_facs.txt", f"{ck_float(4)}{ck_float(1)}\nAU9 strong\n", ":2: 'AU9' is not a number"),
        ("*_facs.txt", f"{ck_float(-4)}{ck_float(1)}\n", "out of range"),
    ],
)
def test_malformed_label_file_names_file_and_line(
    tmp_path: Path, label_file: str, content: str, message: str
):
    root = make_ckplus(tmp_path / "ck", [Sequence("S001", "001", 3, [(4, 1)])])
    broken = next(root.rglob(label_file))
    broken.write_text(content)
    with pytest.raises(DataError) as error:
        read_ckplus(root)
    assert str(broken) in str(error.value)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def write_manifest(folder: Path, header: str, rows: list[str]) -> Path:
    for index in range(3):
        write_image(folder / "img" / f"{index}.png", seed=index)
    path = folder / "labels.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_csv_manifest_with_aus_column(tmp_path: Path):
    manifest = write_manifest(
        tmp_path,
        "path,subject,emotion,aus",
        [
            "img/0.png,S1,happy,6+12",
            "img/1.png,S2,7,1+2+5+27",
            f"{tmp_path}/img/2.png,S2,negative,",
        ],
    )
    source = load_source(manifest)
    assert [r.emotion for r in source.records] == [1, 2, 0]
    assert source.records[0].aus == vector(6, 12)
    assert source.records[1].aus == vector(1, 2, 5, 27)
    assert source.records[2].aus == vector()
    assert source.records[0].path == (tmp_path / "img" / "0.png").resolve()


def test_csv_manifest_with_one_column_per_au(tmp_path: Path):
    header = "path,subject,emotion," + ",".join(f"AU{au}" for au in DEFAULT_AUS)
    ones = ",".join("1" if au in (4, 17) else "0" for au in DEFAULT_AUS)
    zeros = ",".join("0" for _ in DEFAULT_AUS)
    rows = [f"img/0.png,S1,3,{ones}", f"img/1.png,S2,5,{zeros}"]
    manifest = write_manifest(tmp_path, header, rows)
    records = load_source(manifest).records
    assert records[0].aus == vector(4, 17) and records[0].emotion == 0
    assert records[1].aus == vector() and records[1].emotion == 1


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        ("path,subject,aus", "img/0.png,S1,1", ":1: missing column(s) emotion"),
        ("path,subject,emotion", "img/0.png,S1,happy", ":1: no AU columns"),
        ("path,subject,emotion,aus", "img/0.png,S1,bored,1", ":2: column 'emotion': unknown"),
        ("path,subject,emotion,aus", "img/9.png,S1,happy,1", ":2: column 'path': image"),
        ("path,subject,emotion,aus", "img/0.png,S1,happy,1+x", ":2: column 'aus': 'x' is not"),
        ("path,subject,emotion,aus", "../x.png,S1,happy,1", ":2: column 'path': ../x.png lies out"),
        ("path,subject,emotion,AU1", "img/0.png,S1,happy,1", ":1: missing AU column(s) AU2"),
    ],
)
def test_bad_manifest_names_row_and_column(tmp_path: Path, header: str, row: str, message: str):
    manifest = write_manifest(tmp_path / "m", header, [row])
    with pytest.raises(DataError) as error:
        load_source(manifest)
    assert str(manifest) in str(error.value) and message in str(error.value)


def test_au_column_with_a_two_is_rejected(tmp_path: Path):
    header = "path,subject,emotion," + ",".join(f"AU{au}" for au in DEFAULT_AUS)
    cells = ",".join("2" if au == 12 else "0" for au in DEFAULT_AUS)
    manifest = write_manifest(tmp_path, header, [f"img/0.png,S1,happy,{cells}"])
    with pytest.raises(DataError, match=r":2: column 'AU12': expected 0 or 1, got '2'"):
        load_source(manifest)


def test_path_outside_root_allowed_when_asked(tmp_path: Path):
    write_image(tmp_path / "outside.png")
    header = "path,subject,emotion,aus"
    manifest = write_manifest(tmp_path / "m", header, ["../outside.png,S1,5,12"])
    source = load_source(manifest, allow_outside_root=True)
    assert source.records[0].path == (tmp_path / "outside.png").resolve()


def test_missing_empty_and_foreign_folders_fail_in_one_line(tmp_path: Path):
    with pytest.raises(DataError, match="data path does not exist"):
        load_source(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(DataError, match="data folder is empty"):
        load_source(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="neither a CK\\+ folder"):
        load_source(tmp_path / "other")


def test_summary_cli_reports_user_error_without_traceback(tmp_path: Path, capsys):
    assert summary_main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_label_files_and_manifests_with_a_utf8_byte_order_mark_read_as_without(tmp_path: Path):
    from core.data.sources import parse_emotion_file, parse_facs_file

    emotion = tmp_path / "e.txt"
    emotion.write_bytes(b"\xef\xbb\xbf   5.0000000e+00\n")
    facs = tmp_path / "f.txt"
    facs.write_bytes(b"\xef\xbb\xbf   1.0000000e+00   2.0000000e+00\n")
    plain = tmp_path / "p.txt"
    plain.write_bytes(b"   5.0000000e+00\n")
    assert parse_emotion_file(emotion) == parse_emotion_file(plain)
    assert parse_facs_file(facs) == {1: 2}
