"""The synthetic CK+-like set: deterministic, in CK+'s exact layout and formats, and every AU
drawn in its own place."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data import synthetic
from core.data.synthetic import (
    SIZES,
    builtin_root,
    draw_expression,
    draw_frame,
    face_place,
    frame_amounts,
    generate,
    plan_dataset,
)
from core.errors import ConfigError
from core.labels import CKPLUS_CODE_TO_EMOTION, DEFAULT_AUS

TINY = {"n_subjects": 6, "n_labelled": 20, "n_unlabelled": 3}
NUMBER = r" *-?\d\.\d{7}e[+-]\d{2}"
EMOTION_LINE = re.compile(rf"^{NUMBER}\n$")
FACS_LINE = re.compile(rf"^({NUMBER})({NUMBER})$")
IMAGE_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})\.png$")


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("tiny"), seed=3, workers=1, **TINY)


def test_same_seed_gives_identical_files_for_any_worker_count(tiny_root: Path, tmp_path: Path):
    again = generate(tmp_path / "again", seed=3, workers=2, **TINY)
    assert file_hashes(again) == file_hashes(tiny_root)


def test_different_seed_gives_different_files(tiny_root: Path, tmp_path: Path):
    other = file_hashes(generate(tmp_path / "other", seed=4, workers=1, **TINY))
    mine = file_hashes(tiny_root)
    assert other != mine
    assert not set(other.items()) & {item for item in mine.items() if item[0].endswith(".png")}


def test_layout_is_ckplus_with_labels_on_the_last_frame_only(tiny_root: Path):
    sequences = sorted((tiny_root / "cohn-kanade-images").glob("S*/*"))
    assert len(sequences) == 20 + 3
    labelled = 0
    for folder in sequences:
        subject, number = folder.parent.name, folder.name
        assert re.fullmatch(r"S\d{3}", subject) and re.fullmatch(r"\d{3}", number)
        names = sorted(path.name for path in folder.iterdir())
        assert names == [f"{subject}_{number}_{frame:08d}.png" for frame in (1, 2, 3)]
        emotion = tiny_root / "Emotion" / subject / number
        facs = tiny_root / "FACS" / subject / number
        if emotion.exists():
            labelled += 1
            peak = f"{subject}_{number}_00000003"
            assert [p.name for p in emotion.iterdir()] == [f"{peak}_emotion.txt"]
            assert [p.name for p in facs.iterdir()] == [f"{peak}_facs.txt"]
        else:
            assert not facs.exists()
    assert labelled == 20


def test_sequence_numbers_count_up_per_subject(tiny_root: Path):
    for subject in (tiny_root / "cohn-kanade-images").iterdir():
        numbers = sorted(int(folder.name) for folder in subject.iterdir())
        assert numbers == list(range(1, len(numbers) + 1))


def test_label_files_use_ckplus_scientific_notation(tiny_root: Path):
    codes = []
    for path in (tiny_root / "Emotion").rglob("*_emotion.txt"):
        text = path.read_text()
        assert EMOTION_LINE.match(text), repr(text)
        assert text.startswith("   ")
        codes.append(float(text))
    assert set(codes) <= set(map(float, CKPLUS_CODE_TO_EMOTION))
    for path in (tiny_root / "FACS").rglob("*_facs.txt"):
        lines = path.read_text().splitlines()
        assert lines
        aus = []
        for line in lines:
            match = FACS_LINE.match(line)
            assert match, repr(line)
            au, level = float(match[1]), float(match[2])
            assert au == int(au) and level in {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
            aus.append(au)
        assert aus == sorted(set(aus))


def test_facs_files_match_the_plan(tiny_root: Path):
    for subject in plan_dataset(seed=3, **TINY):
        for sequence in subject.sequences:
            stem = f"{subject.name}_{sequence.number:03d}_00000003"
            path = tiny_root / "FACS" / subject.name / f"{sequence.number:03d}" / f"{stem}_facs.txt"
            if not sequence.labelled:
                assert not path.exists()
                continue
            coded = [tuple(int(float(x)) for x in line.split()) for line in path.open()]
            assert coded == list(sequence.facs)


def test_default_plan_follows_ckplus_emotion_counts():
    subjects = plan_dataset()
    labelled = [seq.code for subject in subjects for seq in subject.sequences if seq.labelled]
    assert len(labelled) == 560
    assert len([seq for subject in subjects for seq in subject.sequences]) == 600
    by_code = Counter(labelled)
    assert by_code == {1: 77, 2: 31, 3: 101, 4: 43, 5: 118, 6: 48, 7: 142}
    by_class = Counter(CKPLUS_CODE_TO_EMOTION[code] for code in labelled)
    assert by_class == {0: 300, 1: 118, 2: 142}


def test_default_plan_gives_subjects_four_to_five_sequences():
    counts = [len(subject.sequences) for subject in plan_dataset()]
    assert len(counts) == 120
    assert min(counts) >= 1 and 4.5 <= np.mean(counts) <= 5.5
    assert sum(3 <= count <= 6 for count in counts) >= 110
    numbers = [subject.number for subject in plan_dataset()]
    assert numbers == sorted(set(numbers)) and min(numbers) >= 5


def test_default_plan_codes_every_au_and_some_outside_the_list():
    coded = [pair for subject in plan_dataset() for seq in subject.sequences for pair in seq.facs]
    aus = Counter(au for au, _ in coded)
    assert set(DEFAULT_AUS) <= set(aus)
    assert set(aus) - set(DEFAULT_AUS), "no AU outside the default list"
    levels = Counter(level for _, level in coded)
    assert set(levels) <= {0, 1, 2, 3, 4, 5} and levels[0] > 0 and levels[5] > 0


def test_happy_and_surprise_follow_their_prototypes():
    sequences = [seq for subject in plan_dataset() for seq in subject.sequences]
    happy = [dict(seq.drawn) for seq in sequences if seq.code == 5]
    surprise = [dict(seq.drawn) for seq in sequences if seq.code == 7]
    assert all(12 in aus for aus in happy)
    assert np.mean([6 in aus for aus in happy]) > 0.75
    assert all(25 in aus or 27 in aus for aus in surprise)
    assert np.mean([1 in aus and 2 in aus for aus in surprise]) > 0.6


def coded_labelled(seed: int) -> list[tuple[synthetic.SequencePlan, dict[int, int]]]:
    return [
        (seq, dict(seq.facs))
        for subject in plan_dataset(seed=seed)
        for seq in subject.sequences
        if seq.labelled
    ]


@pytest.mark.parametrize("seed", [0, 7])
def test_au27_is_always_coded_with_au25(seed: int):
    coded = [aus for _, aus in coded_labelled(seed)]
    with_27 = [aus for aus in coded if 27 in aus]
    assert 0.08 < len(with_27) / len(coded) < 0.25
    assert all(25 in aus for aus in with_27)


@pytest.mark.parametrize("seed", [0, 7])
def test_au5_is_coded_near_the_ckplus_rate(seed: int):
    rate = np.mean([5 in aus for _, aus in coded_labelled(seed)])
    assert abs(rate - synthetic.AU5_TARGET) <= 0.04, rate


@pytest.mark.parametrize("seed", [0, 7])
def test_a_few_percent_of_au_labels_are_flipped_and_recorded(seed: int):
    pairs = coded_labelled(seed)
    flips = 0
    for seq, coded in pairs:
        drawn = {au for au, _ in seq.drawn}
        disagree = {au for au in DEFAULT_AUS if (au in drawn) != (au in coded)}
        assert disagree == set(seq.flipped)
        flips += len(disagree)
    assert 0.015 <= flips / (len(pairs) * len(DEFAULT_AUS)) <= 0.05


@pytest.mark.parametrize("seed", [0, 7])
def test_pose_intensity_and_light_vary_across_a_plan(seed: int):
    sequences = [seq for subject in plan_dataset(seed=seed) for seq in subject.sequences]
    rolls = [seq.roll for seq in sequences]
    assert -15 <= min(rolls) < -13 and 13 < max(rolls) <= 15
    assert np.std([seq.yaw for seq in sequences]) > 6
    intensities = [seq.intensity for seq in sequences]
    assert min(intensities) < 0.55 and max(intensities) > 0.95
    assert 0.3 < np.mean([seq.shadow[2] > 0 for seq in sequences]) < 0.7
    assert np.ptp([seq.exposure for seq in sequences]) > 0.5
    assert np.ptp([seq.quality for seq in sequences]) > 50


@pytest.mark.parametrize("seed", [0, 7])
def test_identities_differ_in_skin_hair_glasses_and_beard(seed: int):
    looks = [subject.geometry for subject in plan_dataset(seed=seed)]
    assert np.ptp([g.skin for g in looks]) > 100
    assert {g.hair_style for g in looks} == {0, 1, 2, 3}
    assert 0.1 < np.mean([g.glasses > 0 for g in looks]) < 0.35
    assert {g.beard for g in looks} == {0, 1, 2, 3}
    assert len({g.clutter for g in looks}) == len(looks)


def test_a_rolled_head_turns_its_features_with_it():
    subject = plan_dataset(**TINY)[0]
    upright = frontal(subject)
    rolled = replace(upright, roll=12.0)
    for sequence, angle in ((upright, 0.0), (rolled, 12.0)):
        neutral = draw_expression(subject, sequence, {}).astype(np.int16)
        diff = np.abs(draw_expression(subject, sequence, {27: 1.0}) - neutral)
        diff = diff.max(axis=2) if diff.ndim == 3 else diff
        place = face_place(subject, sequence)
        assert place.roll == angle
        ys, xs = np.mgrid[0 : subject.height, 0 : subject.width]
        u, v = place.units(xs, ys)
        inside = diff[expected_region(27, subject.geometry, u, v)].sum()
        assert inside / diff.sum() > 0.98


def test_a_frame_with_its_rng_is_blurred_noised_and_compressed_and_without_is_clean():
    subject = plan_dataset(**TINY)[0]
    sequence = subject.sequences[0]
    clean = draw_frame(subject, sequence, 3, 3).astype(np.int16)
    rng = np.random.default_rng(0)
    shot = draw_frame(subject, sequence, 3, 3, rng).astype(np.int16)
    again = draw_frame(subject, sequence, 3, 3, np.random.default_rng(0)).astype(np.int16)
    assert np.array_equal(shot, again)
    assert np.abs(shot - clean)[:-20].mean() > 1.0


def test_images_come_in_ckplus_sizes_grey_and_some_colour(tmp_path: Path):
    root = generate(tmp_path, n_subjects=30, n_labelled=30, n_unlabelled=0, frames_per_sequence=1)
    shapes = [
        cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape for path in sorted(root.rglob("*.png"))
    ]
    assert len(shapes) == 30
    assert {(shape[1], shape[0]) for shape in shapes} <= set(SIZES)
    colour = [shape for shape in shapes if len(shape) == 3]
    assert len(colour) == 3 and all(shape[2] == 3 for shape in colour)


def test_neutral_frame_shows_no_au_and_the_peak_all():
    sequence = plan_dataset(**TINY)[0].sequences[0]
    assert frame_amounts(sequence, 1, 3) == {}
    assert frame_amounts(sequence, 3, 3) == dict(sequence.drawn)
    middle = frame_amounts(sequence, 2, 3)
    assert middle == pytest.approx({au: amount / 2 for au, amount in sequence.drawn})


def expected_region(au: int, g: synthetic.Geometry, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Where an AU may change pixels, in face units (u across, v down)."""
    if au in (1, 2, 4):
        return v < g.eye_v
    if au in (5, 7):
        return (np.abs(v - g.eye_v) < 0.25) & (np.abs(u) > 0.15)
    if au == 6:
        return (v > g.eye_v - 0.15) & (v < g.eye_v + 0.4) & (np.abs(u) > 0.1)
    if au == 9:
        return (np.abs(u) < 0.25) & (v > g.eye_v - 0.05) & (v < g.nose_tip + 0.15)
    if au == 17:
        return v > g.nose_tip
    if au == 27:
        return v > -0.05
    return (v > g.nose_tip - 0.1) & (v < g.mouth_v + 0.3)


def frontal(subject: synthetic.SubjectPlan) -> synthetic.SequencePlan:
    """The subject's first sequence with the head upright and facing the camera."""
    return replace(subject.sequences[0], roll=0.0, yaw=0.0)


def au_difference(subject: synthetic.SubjectPlan, au: int) -> tuple[np.ndarray, np.ndarray]:
    """|AU-only face - neutral face| (grey, no noise) and the neutral face."""
    sequence = frontal(subject)
    neutral = draw_expression(subject, sequence, {}).astype(np.int16)
    moved = draw_expression(subject, sequence, {au: 1.0}).astype(np.int16)
    diff = np.abs(moved - neutral)
    return (diff.max(axis=2) if diff.ndim == 3 else diff), neutral


def face_units(subject: synthetic.SubjectPlan) -> tuple[np.ndarray, np.ndarray]:
    place = face_place(subject, frontal(subject))
    ys, xs = np.mgrid[0 : subject.height, 0 : subject.width]
    return place.units(xs, ys)


@pytest.mark.parametrize("au", DEFAULT_AUS)
def test_each_au_changes_pixels_only_in_its_own_region(au: int):
    for subject in plan_dataset(**TINY)[:3]:
        diff, _ = au_difference(subject, au)
        u, v = face_units(subject)
        inside = diff[expected_region(au, subject.geometry, u, v)].sum()
        assert (diff > 8).sum() >= 20, f"AU{au} hardly changes the face"
        assert inside / diff.sum() > 0.98, f"AU{au} changes pixels outside its region"


def test_inner_and_outer_brow_raisers_move_different_ends():
    subject = plan_dataset(**TINY)[0]
    u, _ = face_units(subject)
    spread = {}
    for au in (1, 2):
        diff, _ = au_difference(subject, au)
        spread[au] = (diff * np.abs(u)).sum() / diff.sum()
    assert spread[1] < spread[2] - 0.05


def test_lip_corner_puller_and_depressor_move_corners_opposite_ways():
    subject = plan_dataset(**TINY)[0]
    _, v = face_units(subject)
    sequence = frontal(subject)
    neutral = draw_expression(subject, sequence, {}).astype(np.int16)
    darker_at = {}
    for au in (12, 15):
        darker = np.clip(neutral - draw_expression(subject, sequence, {au: 1.0}), 0, None)
        darker_at[au] = (darker * v).sum() / darker.sum()
    assert darker_at[12] < subject.geometry.mouth_v < darker_at[15]


def test_subtle_aus_change_less_than_the_big_shapes():
    subjects = plan_dataset(**TINY)
    change = {
        au: np.mean([au_difference(subject, au)[0].sum() for subject in subjects])
        for au in (1, 2, 4, 5, 12, 15, 27, 6, 7, 9, 17, 23, 24)
    }
    subtle = max(change[au] for au in (6, 7, 9, 17, 23, 24))
    big = min(change[au] for au in (1, 2, 4, 5, 12, 15, 27))
    assert subtle < 0.9 * big


def test_bad_counts_raise_a_config_error():
    with pytest.raises(ConfigError, match="n_subjects"):
        plan_dataset(n_subjects=0)
    with pytest.raises(ConfigError, match="cannot give each"):
        plan_dataset(n_subjects=10, n_labelled=5, n_unlabelled=0)


def test_builtin_root_is_generated_once(tmp_path: Path):
    first = builtin_root(n_subjects=2, n_labelled=3, cache_dir=tmp_path)
    assert first == tmp_path / f"synthetic-v{synthetic.GENERATOR_VERSION}-seed0-s2-n3"
    stamps = {path: path.stat().st_mtime_ns for path in first.rglob("*")}
    assert len(list((first / "Emotion").rglob("*.txt"))) == 3
    again = builtin_root(n_subjects=2, n_labelled=3, cache_dir=tmp_path)
    assert again == first
    assert {path: path.stat().st_mtime_ns for path in first.rglob("*")} == stamps
    assert [path.name for path in tmp_path.iterdir()] == [first.name]


def test_builtin_root_uses_the_folder_of_a_process_that_finished_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    final = tmp_path / f"synthetic-v{synthetic.GENERATOR_VERSION}-seed0-s2-n3"

    def racing_generate(root: Path, **kwargs) -> Path:
        (root / "mine.txt").parent.mkdir(parents=True)
        (root / "mine.txt").write_text("mine")
        final.mkdir()
        (final / "theirs.txt").write_text("theirs")
        return root

    monkeypatch.setattr(synthetic.write, "generate", racing_generate)
    assert builtin_root(n_subjects=2, n_labelled=3, cache_dir=tmp_path) == final
    assert [path.name for path in final.iterdir()] == ["theirs.txt"]
    assert [path.name for path in tmp_path.iterdir()] == [final.name]


def test_builtin_root_leaves_no_folder_when_generation_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def crashing_generate(root: Path, **kwargs) -> Path:
        (root / "half").mkdir(parents=True)
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic.write, "generate", crashing_generate)
    with pytest.raises(RuntimeError, match="disk full"):
        builtin_root(n_subjects=2, n_labelled=3, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
