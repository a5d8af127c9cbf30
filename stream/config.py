"""Named configurations: TOML files in ``configs/`` loaded into dataclasses.

Unknown sections or fields and wrongly typed values are rejected with one
line that names the file and the field.
"""

from __future__ import annotations

import math
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

from stream.errors import StreamError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
FusionMode = Literal["early", "intermediate", "late"]


class ConfigError(StreamError, ValueError):
    pass


@dataclass
class VideoConfig:
    source: str = "synthetic"  # camera index/name, a video file, "synthetic" or "none"
    width: int = 320
    height: int = 240
    fps: float = 15.0
    loop: bool = False
    embed: bool = True  # MobileNetV2 image embedding
    face_detector: Literal["blazeface", "haar"] = "blazeface"
    face_threshold: float = 0.6
    facing_max_yaw: float = 0.35  # |nose offset| / eye distance still counted as facing
    mouth_landmarks: bool = True  # face-mesh lip distance for mouth activity
    batch: int = 8  # frames per embedding batch on a GPU in a max-speed replay
    nice: int = 10  # lower CPU priority than hearing: on a busy machine video sheds first (0: equal)
    # Live: how long after capture a frame's features may wait for its own scene embedding; past
    # it the newest finished one goes with the frame's fresh face cues (0: always wait).
    embed_wait_ms: float = 30.0


@dataclass
class AudioConfig:
    source: str = "synthetic"  # microphone index/name, an audio file, "synthetic" or "none"
    sample_rate: int = 16000
    chunk_ms: int = 96  # three 32 ms silero frames
    n_mels: int = 64
    # Silero's state is reset after this many seconds of audio, at the first silent chunk: a
    # long stream drifts it deaf to onsets (stream.encoders.audio.Vad). 0: never.
    vad_reset_s: float = 5.0
    loop: bool = False
    mic_rate: int = 0  # open a microphone at this rate (0: its own default); resampled to 16 kHz


@dataclass
class AsrConfig:
    enabled: bool = True
    speech_threshold: float = 0.5
    min_silence_ms: int = 300  # end of turn after this much silence (latency vs. cutting pauses)
    min_speech_ms: int = 200
    partial_every_ms: int = 1000
    max_utterance_s: float = 15.0
    beam_size: int = 1
    # n-best: a final is decoded into the recogniser's best n hypotheses (a beam of at least n)
    # and the text intent model chooses among them: each hypothesis scores its mean token
    # log-probability + n_best_weight x log(the intent model's confidence in it). 1: Whisper's
    # best alone. Validation split, 47 spoken commands: 26 -> 29 intents right (README).
    n_best: int = 5
    n_best_weight: float = 1.0
    # Bias the recogniser toward what people say to a home assistant: "auto" builds a prompt from
    # the intent set's rooms and devices, "" (the default) turns it off, other text is the prompt.
    # Off by default: it lowers word errors but, with the shipped model, fires more wrong commands
    # (validation split; docs/decisions.md).
    prompt: str = ""
    # With early answers: a speech chunk whose last 32 ms VAD frame is below this is decoded at
    # once, as if the voice stopped in it; if the next chunk is silent, that is the pause's early
    # transcript, one chunk sooner (the final still hears the chunk after); if not, it was one
    # more partial. silero decays over a few frames after the voice, so this sits above
    # speech_threshold: 0.8 caught 54 of the 57 validation utterance ends, at 0.28 void decodes
    # per utterance (0.5: 40, 0.02; `python -m stream.offline.vad_ends`). 0 turns it off.
    speculate_below: float = 0.8
    # The early transcript's hypotheses (decoded one chunk sooner, or at the first pause); 0: as
    # many as n_best (then at the pause it is the final). 1 decodes it greedily (a poor one again
    # with a beam of 5) and answers ~70 ms sooner at the median, but on the test split 3 of 89
    # commands' early answers were then contradicted by the final, against 1 (README, "Semantic
    # end of turn"); the final, decoded at the next chunk, still takes n_best.
    early_n_best: int = 0
    preroll_ms: int = 288  # audio kept from before the VAD's onset (it fires after the first sounds)
    # Seconds of audio context the recogniser's encoder sees: Whisper's own 30 (exact), or fewer
    # (the utterance padded with silence; a longer utterance gets its own length). 10 s was ~3x
    # faster than 30 with word errors within noise; 6 s (the default since 2026-12-06) answers
    # ~45 ms sooner again at the median (~155 ms at p95) on a 2-core CPU, with no difference in
    # commands right that the corpus can measure once the repeats Whisper says over the short
    # padding are dropped (README, "Speech recognition").
    context_s: float = 6.0
    # Semantic end of turn: publish the transcript decoded at the first pause at once, marked
    # early; fusion answers it if sure (fusion.early_confidence), before min_silence_ms ends.
    # "live" (replays stay as recorded without it), "always" (replays too: to measure it), "off".
    early: Literal["live", "always", "off"] = "live"
    # Which Whisper: "tiny.en" (39 M parameters, English only) or "base" (74 M, multilingual,
    # decoded as English). "auto": base on CUDA, tiny.en on the CPU, where base's decode is too
    # slow for the latency target (README, "Speech recognition").
    model: Literal["auto", "tiny.en", "base"] = "auto"
    # A second opinion: where the text model is less than second_below sure of the intent of the
    # hypothesis it chose, the text worker decodes the same audio with this recogniser too and
    # chooses among both n-bests (weight n_best_weight). "" turns it off, and so does naming the
    # first recogniser (base on CUDA). Validation 20 -> 25 of 31 spoken commands, test natural
    # 38 -> 39 of 43; ~230 ms more to answer the utterances it is asked about (README, "A
    # second opinion").
    second_model: Literal["", "tiny.en", "base"] = "base"
    second_below: float = 0.9


@dataclass
class TextConfig:
    max_len: int = 64
    end_of_turn: str = ""  # end-of-turn detector checkpoint (empty: models/end_of_turn.pt)


@dataclass
class FusionConfig:
    window_s: float = 2.0
    hop_s: float = 0.2
    deadline_ms: int = 300  # live: close a window this long after its end regardless
    stale_ms: int = 500  # a stream whose watermark lags more than this is "stale"
    require: list[str] = field(default_factory=lambda: ["video", "audio", "text"])
    model: str = ""  # checkpoint path; empty means the shipped default
    intent_threshold: float = 0.5
    # Addressed: early answers need it, and words fusion calls none are read by the text prior
    # (text_decides) when fusion's addressed score is this high.
    addressed_threshold: float = 0.5
    early_confidence: float = 0.9  # answer an early transcript only this sure of a command
    early_complete: float = 0.5  # ... and only if the end-of-turn detector finds it this complete
    # Which command: when fusion answers one and the text prior (the text classifier trained on
    # far more sentences) is at least this sure the same words mean another command, that one is
    # answered. And words said to us (typed, whoever is in view; or spoken with fusion's addressed
    # score at least addressed_threshold) that fusion calls none are the command the prior this
    # sure reads. Chosen on the validation split (typed 296 -> 300 of 300 from 0.5 to 0.7, 299 at
    # 0.8; README, "Which command"). 1: off.
    text_decides: float = 0.7
    # Speech with nobody in view (a modality that can tell, up, showing no one during the
    # utterance) fires nothing: a TV or a voice from another room is not talking to us.
    speech_needs_presence: bool = True
    # ... and someone is there when at least this share of the frames over the words show
    # someone: a face detector also "finds" faces in an empty room now and then (one frame in
    # ten). Corpus: every facing utterance 0.94 or more; 31 of 119 commands from a TV had a
    # frame or more, 5 a quarter or more (README, "nobody-in-view rule"). 0: one frame is enough.
    presence_share: float = 0.25


@dataclass
class NetConfig:
    transport: Literal["ipc", "tcp"] = "ipc"  # ipc: sockets in the run's private directory
    host: str = "127.0.0.1"  # tcp only; anything but loopback needs curve_dir
    base_port: int = 0  # tcp only; 0: pick free ports at start
    hwm: int = 1000
    curve_dir: str = ""  # CURVE keys, required when host is not loopback
    # Workers on other hosts: name -> the endpoint it publishes on there ("tcp://10.0.0.5:5710").
    # The run waits for them to join (`launch.py worker NAME --join ...`) instead of starting them.
    remote: dict[str, str] = field(default_factory=dict)
    join_port: int = 0  # where remote workers join (on net.host); 0: a free port, printed at start


@dataclass
class RunConfig:
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int = 1
    heartbeat_s: float = 0.5
    silent_restart_s: float = 10.0  # restart a running worker silent this long
    startup_s: float = 120.0  # a (re)started worker may take this long to load its models
    fork_workers: bool = True  # torch workers forked from one preloaded process (shared memory)
    max_restarts: int = 5  # restarts in a row after which a worker is given up (the run goes on)
    replay: bool = False  # windows close on watermarks only (deterministic)
    speed: float = 1.0  # media pacing; 0 means as fast as possible
    duration_s: float = 0.0  # 0: until the sources end or Ctrl-C
    plugins: list[str] = field(default_factory=list)  # modules that register more modalities


def _default_devices() -> dict[str, str]:
    return {"pendant lights": "kitchen", "coffee maker": "kitchen", "ceiling fan": "living room",
            "tv": "living room", "speaker": "living room", "curtains": "living room",
            "desk lamp": "office", "roller blinds": "bedroom", "air purifier": "bedroom",
            "heater": "bathroom", "front door": "hallway", "thermostat": "hallway",
            "garage door": "garage", "reading light": "study", "ceiling light": "dining room",
            "washing machine": "basement", "porch light": ""}


@dataclass
class HomeConfig:
    """The home the assistant serves, like the entities Home Assistant exposes: predictions'
    slots are matched against these names, the recogniser's prompt names them, the corpus says
    them. Keep device names free of area names ("pendant lights", not "kitchen lights"): "turn
    on the kitchen lights" then means the kitchen's lights, as in Home Assistant."""

    areas: list[str] = field(default_factory=lambda: [
        "kitchen", "living room", "bedroom", "office", "garage", "bathroom", "hallway",
        "dining room", "basement", "garden", "nursery", "study"])
    floors: list[str] = field(default_factory=lambda: [
        "ground floor", "first floor", "upstairs", "downstairs", "attic"])
    devices: dict[str, str] = field(default_factory=_default_devices)  # name -> its area ("": none)
    zones: list[str] = field(default_factory=lambda: ["home", "work", "school"])
    aliases: dict[str, str] = field(default_factory=dict)  # another name -> a device's or area's
    match: float = 80.0  # how alike (0-100) a heard phrase and a name must be to be that name


@dataclass
class Config:
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    text: TextConfig = field(default_factory=TextConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    net: NetConfig = field(default_factory=NetConfig)
    run: RunConfig = field(default_factory=RunConfig)
    home: HomeConfig = field(default_factory=HomeConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return {_check(k, kt, where): _check(v, vt, f"{where}[{k!r}]") for k, v in value.items()}
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check(v, inner, where) for v in value]
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: must be one of {', '.join(map(repr, typing.get_args(tp)))}, "
                              f"got {value!r}")
        return value
    if origin in (types.UnionType, typing.Union):
        for t in typing.get_args(tp):
            try:
                return _check(value, t, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: bad value {value!r}")
    if isinstance(tp, type) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    if tp is float and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return value


def _fill(obj: Any, data: dict[str, Any], where: str, prefix: str = "") -> None:
    """Copy ``data`` onto dataclass ``obj``; errors read "FILE: field a.b ...". """
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"{where}: unknown field {name!r} (known: {', '.join(sorted(names))})")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: field {name!r} must be a table")
            _fill(current, value, where, f"{name}.")
        else:
            setattr(obj, key, _check(value, hints[key], f"{where}: field {name!r}"))


def from_dict(data: dict[str, Any], where: str = "config") -> Config:
    cfg = Config()
    _fill(cfg, data, where)
    validate(cfg, where)
    return cfg


def load(name_or_path: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load ``configs/NAME.toml`` or a path; ``overrides`` is a nested dict applied on top."""
    cfg = Config()
    if name_or_path:
        path = Path(name_or_path)
        if not path.suffix:
            path = CONFIG_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid TOML ({e})") from None
        _fill(cfg, data, str(path))
    if overrides:
        _fill(cfg, overrides, "command line")
    validate(cfg, str(name_or_path or "config"))
    return cfg


def modality_names(cfg: Config, where: str) -> list[str]:
    """The registered modalities, with ``run.plugins`` imported (a bad plugin names the field)."""
    from stream.modalities.registry import names

    try:
        return names(cfg)
    except StreamError as e:
        raise ConfigError(f"{where}: field {str(e)}") from None


def validate(cfg: Config, where: str) -> None:
    def bad(field_name: str, why: str) -> None:
        raise ConfigError(f"{where}: field {field_name!r} {why}")

    if cfg.video.fps <= 0:
        bad("video.fps", "must be positive")
    if cfg.video.width < 32 or cfg.video.height < 32:
        bad("video.width/height", "must be at least 32")
    if cfg.video.embed_wait_ms < 0:
        bad("video.embed_wait_ms", "must be >= 0 (0: every frame waits for its own embedding)")
    if not 0 <= cfg.video.nice <= 19:
        bad("video.nice", "must be 0-19 (how much lower the video worker's CPU priority is)")
    if cfg.audio.sample_rate != 16000:
        bad("audio.sample_rate", "must be 16000 (the models' rate; inputs are resampled)")
    if not 1 <= cfg.asr.n_best <= 8:
        bad("asr.n_best", "must be 1-8 (hypotheses the intent model chooses among; 1: off)")
    if cfg.asr.n_best_weight < 0:
        bad("asr.n_best_weight", "must be >= 0")
    if not 0 <= cfg.asr.early_n_best <= 8:
        bad("asr.early_n_best", "must be 0-8 (hypotheses of the early transcript; 0: as n_best)")
    if not 0.0 <= cfg.asr.speculate_below <= 1.0:
        bad("asr.speculate_below", "must be 0-1 (a VAD probability; 0: off)")
    if not 0.0 <= cfg.asr.second_below <= 1.0:
        bad("asr.second_below", "must be 0-1 (the text model's certainty below which base is asked too)")
    if cfg.asr.preroll_ms < 0:
        bad("asr.preroll_ms", "must be >= 0")
    for name in ("early_confidence", "early_complete", "intent_threshold", "addressed_threshold",
                 "text_decides", "presence_share"):
        if not 0.0 <= getattr(cfg.fusion, name) <= 1.0:
            bad(f"fusion.{name}", "must be 0-1 (a probability)")
    if not 1.0 <= cfg.asr.context_s <= 30.0:
        bad("asr.context_s", "must be 1-30 (seconds of audio Whisper's encoder sees; 30: its own)")
    if cfg.audio.chunk_ms % 32:
        bad("audio.chunk_ms", "must be a multiple of 32 (silero VAD frames)")
    if cfg.audio.vad_reset_s < 0:
        bad("audio.vad_reset_s", "must be >= 0 (seconds of audio between VAD state resets; 0: never)")
    if not 0 < cfg.fusion.hop_s <= cfg.fusion.window_s:
        bad("fusion.hop_s", "must be positive and at most fusion.window_s")
    known = modality_names(cfg, where)
    for s in cfg.fusion.require:
        if s not in known:
            bad("fusion.require", f"has unknown stream {s!r} (known: {', '.join(known)})")
    if cfg.run.speed < 0:
        bad("run.speed", "must be >= 0")
    _validate_home(cfg.home, bad)
    if cfg.run.duration_s < 0:
        bad("run.duration_s", "must be >= 0 (0: until the sources end)")


def _validate_home(h: HomeConfig, bad) -> None:
    names = [*h.areas, *h.floors, *h.devices, *h.zones, *h.aliases]
    if any(not n.strip() or n != n.strip().lower() or set(n) & set("[](){}<>|") for n in names):
        bad("home", "names must be non-empty, lower case, without surrounding spaces or any of "
                    "[](){}<>| (hassil's template characters)")
    for device, area in h.devices.items():
        if area and area not in h.areas:
            bad(f"home.devices[{device!r}]", f"names area {area!r}, not one of home.areas")
    for alias, target in h.aliases.items():
        if target not in h.devices and target not in h.areas:
            bad(f"home.aliases[{alias!r}]", f"names {target!r}, neither a device nor an area")
    if not 50.0 <= h.match <= 100.0:
        bad("home.match", "must be 50-100 (rapidfuzz similarity of a heard phrase and a name)")
