"""Readers that turn a data source (CK+ folder, CSV manifest, built-in set) into records."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import DataError, shortened
from ..files import TEXT_BYTES_LIMIT, read_bounded
from ..images.image_files import check_image_type, is_image_file
from ..labels import DEFAULT_AUS, emotion_from_code, emotion_from_text
from .records import Record, Skip, Source

JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini"})
CKPLUS_FOLDERS = ("cohn-kanade-images", "Emotion", "FACS")


def load_source(
    data: str | Path | None = None,
    *,
    aus: tuple[int, ...] = DEFAULT_AUS,
    peak_frames: int = 1,
    allow_outside_root: bool = False,
    seed: int = 0,
) -> Source:
    """Read any supported source; `None` means the built-in synthetic set (generated once)."""
    if data is None:
        from .synthetic import builtin_root

        return read_ckplus(builtin_root(seed=seed), aus=aus, peak_frames=peak_frames)
    path = Path(data).expanduser()
    if not path.exists():
        raise DataError(f"{path}: data path does not exist")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DataError(f"{path}: a data file must be a CSV manifest ending in .csv")
        return read_csv_manifest(path, aus=aus, allow_outside_root=allow_outside_root)
    if not os.access(path, os.R_OK | os.X_OK):
        raise DataError(f"{path}: data folder is not readable")
    if not visible_entries(path):
        raise DataError(f"{path}: data folder is empty")
    if is_ckplus_folder(path):
        return read_ckplus(path, aus=aus, peak_frames=peak_frames)
    raise DataError(
        f"{path}: neither a CK+ folder (with cohn-kanade-images/, Emotion/, FACS/) "
        "nor a CSV manifest (pass the .csv file itself)"
    )


def is_ckplus_folder(path: Path) -> bool:
    """Whether a folder has CK+'s layout (images, Emotion and FACS side by side)."""
    return all((path / name).is_dir() for name in CKPLUS_FOLDERS)


def is_junk(path: Path) -> bool:
    """Files real CK+ copies carry that are no data: dot files (`.DS_Store`), `Thumbs.db`."""
    return path.name.startswith(".") or path.name.lower() in JUNK_NAMES


def visible_entries(folder: Path) -> list[Path]:
    """A folder's entries without hidden and OS junk files, sorted by name."""
    try:
        return sorted(entry for entry in folder.iterdir() if not is_junk(entry))
    except PermissionError:
        raise DataError(f"{folder}: folder is not readable") from None


# --- CK+ -------------------------------------------------------------------------------------

UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")  # UTF-32's marks start the same way


def read_ckplus(root: Path, *, aus: tuple[int, ...] = DEFAULT_AUS, peak_frames: int = 1) -> Source:
    """Labelled sequences only; the last `peak_frames` frames carry the sequence's labels."""
    if peak_frames < 1:
        raise DataError(f"peak_frames must be at least 1, got {peak_frames}")
    root = Path(root)
    images_root = root / "cohn-kanade-images"
    records: list[Record] = []
    skipped: list[Skip] = []
    for subject_dir in _folders(images_root):
        for sequence_dir in _folders(subject_dir):
            relative = sequence_dir.relative_to(images_root)
            emotion_file = _label_file(root / "Emotion" / relative, "_emotion.txt")
            if emotion_file is None:
                continue
            frames = [p for p in visible_entries(sequence_dir) if is_image_file(p)]
            if not frames:
                skipped.append(Skip(sequence_dir, "labelled sequence folder holds no images"))
                continue
            facs_file = _label_file(root / "FACS" / relative, "_facs.txt")
            if facs_file is None:
                skipped.append(Skip(sequence_dir, "labelled sequence has no FACS file"))
                continue
            emotion = parse_emotion_file(emotion_file)
            au_vector = au_vector_from(parse_facs_file(facs_file), aus)
            records.extend(
                Record(frame, subject_dir.name, str(relative), emotion, au_vector)
                for frame in frames[-peak_frames:]
            )
    skipped.extend(_empty_sequence_skips(images_root))
    if not records:
        nested = [root / name / name for name in CKPLUS_FOLDERS if (root / name / name).is_dir()]
        if nested:  # how some archives unpack: every label looked missing, with no hint
            raise DataError(
                f"{nested[0]}: the CK+ tree is nested one level too deep (no labelled image "
                f"found); move the contents of {nested[0]} up into {nested[0].parent}"
            )
    return Source(root=root, records=records, aus=tuple(aus), skipped=skipped)


def _folders(parent: Path) -> list[Path]:
    return [entry for entry in visible_entries(parent) if entry.is_dir()]


def _empty_sequence_skips(images_root: Path) -> Iterable[Skip]:
    """Empty sequence folders are reported whether or not they carry labels."""
    for subject_dir in _folders(images_root):
        for sequence_dir in _folders(subject_dir):
            if not visible_entries(sequence_dir):
                yield Skip(sequence_dir, "empty sequence folder")


def _label_file(folder: Path, suffix: str) -> Path | None:
    if not folder.is_dir():
        return None
    # By name alone: a folder or device named like a label file is refused when it is read,
    # not skipped (a skipped label file silently dropped its sequence).
    matches = [p for p in visible_entries(folder) if p.name.endswith(suffix)]
    if len(matches) > 1:
        raise DataError(
            f"{folder}: more than one *{suffix} file: {', '.join(p.name for p in matches)}"
        )
    return matches[0] if matches else None


def read_text_file(path: Path) -> str:
    """A label file or manifest as text: UTF-8, with or without a byte-order mark (Windows
    tools add one; it read as a second value). Anything else is named for what it is."""
    try:
        raw = read_bounded(path, TEXT_BYTES_LIMIT)
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror})") from None
    if raw.startswith(UTF16_MARKS):
        raise DataError(f"{path}: not a text file in UTF-8 (it is UTF-16: save it as UTF-8)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file (not UTF-8)") from None
    if "\x00" in text:
        raise DataError(f"{path}: not a text file (holds NUL bytes)")
    return text


def _read_label_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; a file that is not text is a DataError."""
    text = read_text_file(path)
    return [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _parse_float(token: str, where: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise DataError(f"{where}: {shown(token)!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {shown(token)!r} is not a finite number")
    return value


def _parse_whole(token: str, where: str, what: str) -> int:
    """A CK+ code stored as a float (`2.0000000e+00`); 1.5 is refused, never rounded."""
    value = _parse_float(token, where)
    if not value.is_integer():
        raise DataError(f"{where}: {what} {shown(token)} is not a whole number")
    if abs(value) >= 1000:  # CK+ codes are below 100
        raise DataError(f"{where}: {what} {shown(token)} is out of range")
    return int(value)


def shown(token: str) -> str:
    """A label file's token as a message quotes it (shorter than the other values)."""
    return shortened(token, most=24)


def parse_emotion_file(path: Path) -> int:
    """One float (e.g. `   7.0000000e+00`) -> class index."""
    lines = _read_label_lines(path)
    if not lines:
        raise DataError(f"{path}: empty emotion file (expected one CK+ code 1-7)")
    if len(lines) > 1:
        raise DataError(f"{path}:{lines[1][0]}: expected one emotion code, found more lines")
    number, line = lines[0]
    tokens = line.split()
    where = f"{path}:{number}"
    if len(tokens) != 1:
        raise DataError(f"{where}: expected one emotion code, got {len(tokens)} values")
    return emotion_from_code(_parse_whole(tokens[0], where, "emotion code"), where)


def parse_facs_file(path: Path) -> dict[int, int]:
    """AU -> intensity (0 = intensity not given), both stored as floats with whole values."""
    coded: dict[int, int] = {}
    for number, line in _read_label_lines(path):
        where = f"{path}:{number}"
        tokens = line.split()
        if len(tokens) != 2:
            raise DataError(f"{where}: expected two numbers (AU, intensity), got {len(tokens)}")
        au = _parse_whole(tokens[0], where, "AU code")
        intensity = _parse_whole(tokens[1], where, "intensity")
        if au <= 0 or not 0 <= intensity <= 5:
            raise DataError(f"{where}: AU {au} with intensity {intensity} is out of range")
        coded[au] = intensity
    return coded


def au_vector_from(present: Iterable[int], aus: tuple[int, ...]) -> tuple[int, ...]:
    """0/1 per AU of the list; AUs outside the list are ignored."""
    present = set(present)
    return tuple(int(au in present) for au in aus)


# --- CSV manifest ---------------------------------------------------------------------------

REQUIRED_COLUMNS = ("path", "subject", "emotion")


def read_csv_manifest(
    path: Path, *, aus: tuple[int, ...] = DEFAULT_AUS, allow_outside_root: bool = False
) -> Source:
    """`path,subject,emotion` plus `aus` (`1+2+25`) or one 0/1 column per AU (`AU1`, ...)."""
    path = Path(path)
    rows, header = _read_csv_rows(path)
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise DataError(f"{path}:1: missing column(s) {', '.join(missing)} (header: {header})")
    au_columns = _au_columns(path, header, aus)
    root = path.parent.resolve()
    records = []
    listed: dict[Path, int] = {}  # image -> the line that listed it first
    for line_number, row in rows:
        where = f"{path}:{line_number}"
        image = _manifest_image(row["path"], root, where, allow_outside_root)
        if image in listed:  # twice, under two subjects, would sit on both sides of the split
            raise DataError(
                f"{where}: column 'path': image {image} is already listed on line {listed[image]}"
            )
        listed[image] = line_number
        subject = row["subject"].strip()
        if not subject:
            raise DataError(f"{where}: column 'subject' is empty")
        emotion = emotion_from_text(row["emotion"], f"{where}: column 'emotion'")
        au_vector = _manifest_aus(row, au_columns, aus, where)
        sequence = (row.get("sequence") or "").strip() or image.stem
        records.append(Record(image, subject, sequence, emotion, au_vector))
    if not records:
        raise DataError(f"{path}: the manifest has a header but no rows")
    return Source(root=root, records=records, aus=tuple(aus))


def _read_csv_rows(path: Path) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    text = read_text_file(path)
    reader = csv.reader(text.splitlines())
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: empty manifest (expected a header line)") from None
    except csv.Error as error:
        raise DataError(f"{path}:1: malformed CSV ({error})") from None
    seen: set[str] = set()
    for name in header:
        if name.upper() in seen:  # a second column of a name: which one holds the labels?
            raise DataError(f"{path}:1: column {shown(name)!r} appears twice in the header")
        seen.add(name.upper())
    rows = []
    try:
        for values in reader:
            line_number = reader.line_num
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(header):
                raise DataError(
                    f"{path}:{line_number}: {len(values)} values for {len(header)} columns"
                )
            rows.append((line_number, dict(zip(header, values, strict=True))))
    except csv.Error as error:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({error})") from None
    return rows, header


def _au_columns(path: Path, header: list[str], aus: tuple[int, ...]) -> dict[int, str] | None:
    """None means the single `aus` column; else AU -> its 0/1 column's name."""
    if "aus" in header:
        both = [name for name in header if name.upper().removeprefix("AU").isdigit()]
        if both:
            raise DataError(
                f"{path}:1: both an 'aus' column and AU columns ({', '.join(both[:3])}): "
                "keep one, so the labels cannot disagree"
            )
        return None
    by_upper = {name.upper(): name for name in header}
    columns = {au: by_upper.get(f"AU{au}") for au in aus}
    if not any(columns.values()):
        raise DataError(
            f"{path}:1: no AU columns: add an 'aus' column like 1+2+25 or 0/1 columns AU1, AU2, ..."
        )
    missing = [f"AU{au}" for au, name in columns.items() if name is None]
    if missing:
        raise DataError(f"{path}:1: missing AU column(s) {', '.join(missing)}")
    return {au: name for au, name in columns.items() if name is not None}


def _manifest_image(value: str, root: Path, where: str, allow_outside_root: bool) -> Path:
    text = value.strip()
    if not text:
        raise DataError(f"{where}: column 'path' is empty")
    try:
        image = Path(text).expanduser()
        image = (image if image.is_absolute() else root / image).resolve()
        is_file = image.is_file()
    except (OSError, RuntimeError) as error:  # no such user (~name), a name too long, a loop
        reason = f"{text!r} is not a usable path ({error})"
        raise DataError(f"{where}: column 'path': {reason}") from None
    if not allow_outside_root and not image.is_relative_to(root):
        raise DataError(
            f"{where}: column 'path': {text} lies outside the manifest's folder {root} "
            "(pass --allow-outside-root to allow it)"
        )
    if not is_file:
        reason = "is not a regular file" if image.exists() else "does not exist"
        raise DataError(f"{where}: column 'path': image {image} {reason}")
    return check_image_type(image, f"{where}: column 'path': {image}")


def _manifest_aus(
    row: dict[str, str], au_columns: dict[int, str] | None, aus: tuple[int, ...], where: str
) -> tuple[int, ...]:
    if au_columns is None:
        return au_vector_from(_parse_au_cell(row["aus"], f"{where}: column 'aus'"), aus)
    vector = []
    for au in aus:
        column = au_columns[au]
        cell = row[column].strip()
        if cell not in ("0", "1", "0.0", "1.0"):
            raise DataError(f"{where}: column '{column}': expected 0 or 1, got {cell!r}")
        vector.append(int(float(cell)))
    return tuple(vector)


def _parse_au_cell(cell: str, where: str) -> list[int]:
    text = cell.strip()
    if not text:
        return []
    present = []
    for token in text.replace(" ", "+").split("+"):
        if not token:
            continue
        digits = token.upper().removeprefix("AU")
        if not (digits.isascii() and digits.isdigit()) or int(digits) == 0:
            raise DataError(f"{where}: {token!r} is not an AU number (expected e.g. 1+2+25)")
        present.append(int(digits))
    return present
