"""What every intent model returns, and the interface it implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from stream.fusion.align import Window


@dataclass
class Prediction:
    end_ns: int
    intent: str
    confidence: float
    addressed: float
    modalities: dict[str, str]
    contributions: dict[str, float] = field(default_factory=dict)
    text: str = ""
    text_intent: str = ""  # what the text alone says, before the addressed gate
    slots: dict[str, str | int | float] = field(default_factory=dict)  # what the intent acts on


class IntentModel(Protocol):
    """Turns a closed :class:`~stream.fusion.align.Window` into a :class:`Prediction`."""

    intents: list[str]

    def predict(self, window: Window) -> Prediction: ...
