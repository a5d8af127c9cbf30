"""The modality registry: each modality (video, audio, text, ...) is declared once, here.

A :class:`Modality` says everything the rest of the system needs to know about
one kind of input: the worker processes that produce its stream, the named
parts of its messages (name, dtype, shape, derived from the config), how a
fusion window turns one of its items into a feature step, how its source
opens, how a session records and replays it, and what the dashboard shows.
Supervisor, fusion, feature cache, dashboard, plots, bench, config validation
and ablation iterate over :func:`modalities`; none of them names a modality.

Adding one (an IMU, a depth camera) means a declaration module that calls
:func:`register`, a source, an encoder and a stage; list the declaration
module in ``run.plugins`` (see ``tests/imu_modality.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from stream.config import Config
    from stream.fusion.align import Item
    from stream.session.format import Session
    from stream.sources.base import Source, SourceTiming

BUILTIN = ("stream.modalities.video", "stream.modalities.audio", "stream.modalities.text")
BUILTIN_ORDER = ("video", "audio", "text")  # whatever order their modules happen to be imported in


@dataclass(frozen=True)
class Feature:
    """One named part of a stream's messages."""

    dtype: str
    shape: tuple[int, ...]
    optional: bool = False  # may be absent (e.g. video.embed = false)
    cache: bool = True  # False: raw data for the live path only (fusion never reads it, caches drop it)


@dataclass(frozen=True)
class WorkerDecl:
    """One worker process: ``python -m MODULE``; it listens to ``inputs`` (those present)."""

    name: str
    module: str
    inputs: tuple[str, ...] = ()
    # Lower CPU priority (a nice increment) for work that should give way when the machine is
    # busy: video sheds frames (newest frame only) so that hearing and answering keep up.
    nice: int = 0
    # Runs torch models: forked from the fork server that imported torch once (shared pages;
    # stream/process/forked.py). False: started afresh, and never maps torch at all.
    torch: bool = True


@dataclass(frozen=True)
class Modality:
    name: str  # its stream's name (and the topic fusion subscribes to)
    workers: Callable[[Config], list[WorkerDecl]]  # the first one publishes the stream
    parts: Callable[[Config], dict[str, Feature]]  # the schema of its messages
    step: Callable[[Item, int, int], np.ndarray]  # (item, window end ns, window ns) -> feature step
    step_dim: Callable[[Config], int]
    steps: int  # feature steps a fusion window keeps (subsampled if more)
    keep: Literal["uniform", "newest"] = "uniform"  # which steps, when there are more
    events: bool = False  # items are instants that trigger an answer at once (text)
    cache_meta: tuple[str, ...] = ()  # meta fields the feature cache keeps besides the parts
    meta: dict[str, type] = field(default_factory=dict)  # meta fields fusion reads, and their types
    always_on: bool = False  # runs whatever the sources (text: typed input)
    source: Callable[[str, Config, SourceTiming], Source] | None = None  # spec -> its source
    in_session: Callable[[Session], bool] = field(default=lambda s: False)
    writer: Callable[[Path, Any], Any] | None = None  # (session root, source) -> .add(data, t_s)
    show: Callable[[dict], str] = field(default=lambda gauges: "")  # dashboard note from gauges
    # Whether an item shows someone there to talk to (video: a face); speech while this
    # modality is up and shows nobody is not answered (fusion.speech_needs_presence).
    presence: Callable[[Item], bool] | None = None
    # The items one answer reads, of those in a window (oldest first): text keeps its newest
    # turn, so a line typed 1 s after another is not read as the two averaged.
    turn: Callable[[list[Item]], list[Item]] | None = None
    # Whether a turn was said to the assistant by construction (text: a typed line), whoever is
    # in view: then whether it is a command is for its words to say (fusion.text_decides).
    addressed: Callable[[list[Item]], bool] | None = None


_REGISTRY: dict[str, Modality] = {}
_loaded: set[str] = set()


def register(m: Modality) -> Modality:
    _REGISTRY[m.name] = m
    return m


def load(modules: tuple[str, ...] | list[str] = ()) -> None:
    """Import the built-in declarations and any plugin modules (``run.plugins``)."""
    for name in (*BUILTIN, *modules):
        if name not in _loaded:
            try:
                importlib.import_module(name)
            except ImportError as e:
                from stream.errors import StreamError

                raise StreamError(f"run.plugins: cannot import {name!r} ({e})") from None
            _loaded.add(name)


def modalities(cfg: Config | None = None) -> list[Modality]:
    """Every registered modality: the built-ins in their fixed order, then plugins as registered.

    The order is part of a model's inputs (checkpoints store it), so it never depends on
    which module happened to be imported first.
    """
    load(cfg.run.plugins if cfg is not None else ())
    rank = {n: i for i, n in enumerate(BUILTIN_ORDER)}
    names = sorted(_REGISTRY, key=lambda n: (rank.get(n, len(rank)), list(_REGISTRY).index(n)))
    return [_REGISTRY[n] for n in names]


def names(cfg: Config | None = None) -> list[str]:
    return [m.name for m in modalities(cfg)]


def get(name: str, cfg: Config | None = None) -> Modality:
    load(cfg.run.plugins if cfg is not None else ())
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown modality {name!r} (known: {', '.join(_REGISTRY)})") from None


def step_spec(cfg: Config, streams: list[str] | None = None) -> dict[str, dict]:
    """What a fusion model consumes, per modality: width of a step, steps kept, which ones."""
    return {m.name: {"dim": m.step_dim(cfg), "steps": m.steps, "keep": m.keep}
            for m in modalities(cfg) if streams is None or m.name in streams}
