"""The slots of a predicted intent: what it acts on, from the words that carried it.

"Dim the kitchen to 30 percent" is HassLightSet with ``{"area": "kitchen", "brightness": 30}``.
First hassil (Home Assistant's own matcher) tries to parse the words exactly against the
intent's sentence templates and the home's names; a transcript rarely parses (a misheard or
dropped word, an unusual phrasing), so then each slot the intent's templates can take is
looked for on its own: the home's names (areas, floors, devices, zones) tolerantly, as the
closest phrase in the words (rapidfuzz, at least ``home.match`` alike), Home Assistant's fixed
words (states, colours, cover classes) exactly, and numbers by their unit ("5 minutes", "30
percent", "21 degrees"; a duration after "timer for" is the timer's own). Free text (a
message, a list item) comes only from hassil's parse, except a timer's name, which the words
give as hassil's templates do ("called tea", "the tea timer").
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

from rapidfuzz import fuzz

from stream.config import HomeConfig
from stream.intent import intent_set as hi

Value = str | int | float
HOME_LISTS = ("area", "floor", "name", "zone")  # the home's names: they may be misheard
# The lists a number with this unit after it belongs to (by list name prefix).
UNITS = {"percent": ("brightness", "volume", "position", "fan_speed"), "degree": ("temperature",),
         "kelvin": ("color_temperature",)}
TIME_UNITS = ("hour", "minute", "second")
DOWN = {"down", "decrease", "lower", "reduce", "quieter"}
# Words that say which timer without naming it ("the next timer"): never a free-text name
GENERIC = {"next", "current", "first", "last", "other", "new", "same", "whole", "old", "running",
           "time", "timers", "and", "or", "of", "to", "a", "an", "this", "that"}
# Where a name after "called" ends: "the timer called tea by 5 minutes", "... called pasta for 2 hours"
NAME_ENDS = {"by", "for", "from", "off", "to", "and", "in", "on", "timer", "please", "with", "at"}
# Home Assistant parses some sentences only in the room of the satellite that heard them: "play
# jazz" is `play {search_query}`, which requires an area from the context. This assistant is in
# no room of the home's, so such a sentence is parsed in a placeholder room, left out of the
# slots: the command names no area.
HERE_AREA = "\x00here"
HERE = {"area": {"value": HERE_AREA, "text": ""}}
_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
# A number as said: names are matched by their sounds, and "ground floor" heard as "ground four"
# reaches the words as "ground 4".
_SAID = {str(n): w for w, n in (_SMALL | _TENS).items()}


def _said(words) -> list[str]:
    return [_SAID.get(w, w) for w in words]


@dataclass(frozen=True)
class _Phrase:
    words: tuple[str, ...]
    value: Value
    tolerant: bool  # a home's name: matched tolerantly; Home Assistant's fixed words: exactly

    @cached_property
    def sounds(self) -> str:  # its words as said (numbers spelled out): what tolerant matching compares
        return " ".join(_said(self.words))


def words_of(text: str) -> list[str]:
    """Lower-case words, "%" as "percent", "5-minute" as "5 minute", number words as digits."""
    text = re.sub(r"(\d),(\d{3})\b", r"\1\2", text.lower())  # "4,000 kelvin"
    text = text.replace("%", " percent ").replace("-", " ")
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", r"\1", text.replace("1/2", " half "))
    raw = re.findall(r"\d+(?:\.\d+)?|[^\W\d_]+(?:'[^\W\d_]+)?", text)  # any script's letters
    out: list[str] = []
    for w in raw:
        if w in _SMALL or w in _TENS:
            n = _SMALL.get(w, _TENS.get(w, 0))
            if out and out[-1].isdigit() and int(out[-1]) % 10 == 0 and int(out[-1]) >= 20 and n < 10:
                out[-1] = str(int(out[-1]) + n)  # "twenty one"
                continue
            out.append(str(n))
        elif w == "hundred" and out and out[-1].isdigit():
            out[-1] = str(int(out[-1]) * 100)
        else:
            out.append(w)
    for k in range(len(out) - 2, 0, -1):  # "21 point 5" -> "21.5"
        if out[k] == "point" and out[k - 1].isdigit() and out[k + 1].isdigit():
            out[k - 1:k + 2] = [f"{out[k - 1]}.{out[k + 1]}"]
    return out


def _number(w: str) -> int | float | None:
    try:
        x = float(w)
    except ValueError:
        return None
    return int(x) if x.is_integer() else x


def _unit_at(words: list[str], i: int) -> tuple[int, bool]:
    """Where the unit after the number at ``i`` is ("5 and a half minutes": at "minutes"), and
    whether a half came with it."""
    j, half = i + 1, words[i] == "half"
    while j < len(words) and words[j] in ("and", "a", "an", "half"):
        half |= words[j] == "half"
        j += 1
    return j, half


def _unit_after(words: list[str], i: int) -> tuple[str, bool]:
    """The unit after the number at ``i`` ("5 and a half minutes": "minute", and a half)."""
    j, half = _unit_at(words, i)
    return (words[j].removesuffix("s") if j < len(words) else ""), half


def _names_timer(words: list[str], i: int) -> bool:
    """Whether the duration at ``i`` says which timer, as hassil's templates do: "add 5 minutes
    to the timer for 10 minutes", "... to the 10 minute timer" (a ``start_`` slot)."""
    j = _unit_at(words, i)[0]
    return words[max(i - 2, 0):i] == ["timer", "for"] or words[j + 1:j + 2] == ["timer"]


def _duration(w: str, half: bool) -> tuple[int | float, bool]:
    """A timer's duration Whisper wrote with a point: "63.5 hours" is 63 and a half; "4.45
    hours" is how it writes "for 45 hours" (a timer counts whole units)."""
    whole, frac = w.split(".")
    if frac == "5":
        return int(whole), True
    return (int(frac), half) if len(whole) == 1 and len(frac) == 2 else (float(w), half)


def _plain(v) -> Value | None:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else None


def _surfaces(expr, limit: int = 64) -> list[str]:
    """Every way a list value's text can be said (its alternatives and optional parts)."""
    from hassil.expression import Alternative, Group, Sequence, TextChunk

    if isinstance(expr, str):
        return [expr]
    if isinstance(expr, TextChunk):
        return [expr.original_text]
    if isinstance(expr, Alternative):
        return [s for item in expr.items for s in _surfaces(item, limit)][:limit]
    if isinstance(expr, (Sequence, Group)):
        parts = [_surfaces(item, limit) for item in expr.items]
        return ["".join(p) for p in itertools.islice(itertools.product(*parts), limit)]
    return []


class SlotFiller:
    """``fill(text, intent)``: the slots ``text`` gives ``intent``, as a dict (empty if none)."""

    def __init__(self, home: HomeConfig | None = None, intents=None) -> None:
        self.home = home or HomeConfig()
        self.intents = intents or hi.load()
        # Free text (a message, a search, a list item) stays hassil's wildcard: captured from a
        # sentence that parses, never guessed from the corpus's sample values.
        self.lists = hi.slot_lists(self.intents, self.home, samples=False)
        self.takes = hi.template_slots(self.intents)  # intent -> slot -> list
        self.phrases = {name: self._phrases(name) for t in self.takes.values()
                        for lists in t.values() for name in lists}
        from hassil.intents import WildcardSlotList

        # Intents whose name is free text (a timer's): when nothing parses, taken as the words
        # give it ("called tea", "the tea timer": _named).
        self.free_name = {i for i, t in self.takes.items()
                          if any(isinstance(self.lists.get(n), WildcardSlotList) for n in t.get("name", []))}
        h = self.home
        self.names = {" ".join(words_of(n)) for n in [*h.areas, *h.floors, *h.devices, *h.zones, *h.aliases]}
        self._cached = lru_cache(maxsize=256)(self._fill)  # windows repeat the same words
        self._one: dict[str, Any] = {}  # intent -> the intent set with that intent alone
        # Where to parse an intent's sentences: as said, then in a room of its own (HERE) with, if
        # all its sentences need a device of one domain, that domain. The home says no device's
        # domain, and the intent model has chosen the intent: "add milk to the porch light list"
        # names a to-do list, "set the heater fan mode to auto" a climate device.
        self.contexts = {i: (None, {**HERE, **({"domain": d[0]} if len(d := _domains(it)) == 1 else {})})
                         for i, it in self.intents.intents.items()}

    def warm_up(self) -> None:
        """Parse a sentence of each intent: hassil builds what a parse needs (number words,
        each sentence's required words) on first use, 5-60 ms that would otherwise fall on
        the first answers' path. ~0.1 s, once."""
        for intent, text in hi.one_per_intent(self.intents, self.home).items():
            self._fill(text, intent)

    def fill(self, text: str, intent: str) -> dict[str, Value]:
        return dict(self._cached(text, intent))  # a copy: a sink may change what it gets

    def _phrases(self, list_name: str) -> list[_Phrase]:
        from hassil.intents import TextSlotList

        sl = self.lists.get(list_name)
        if not isinstance(sl, TextSlotList):
            return []
        tolerant = list_name in HOME_LISTS
        out = []
        for v in sl.values:
            value = _plain(v.value_out) if v.value_out is not None else None
            for s in _surfaces(v.text_in):
                if (w := tuple(words_of(s))):
                    out.append(_Phrase(w, value if value is not None else " ".join(w), tolerant))
        if list_name in ("area", "name"):  # the home's other names for its rooms and devices
            known = self.home.areas if list_name == "area" else self.home.devices
            out += [_Phrase(tuple(words_of(a)), t, True) for a, t in self.home.aliases.items()
                    if t in known]
        return out

    def _fill(self, text: str, intent: str) -> dict[str, Value]:
        if intent not in self.takes or not text.strip():
            return {}
        exact = self._exact(text, intent)
        return exact if exact is not None else self._tolerant(words_of(text), intent)

    def _exact(self, text: str, intent: str) -> dict[str, Value] | None:
        """Hassil's parse of the words as one of ``intent``'s sentences, if there is one: as
        said, then (unless that named a device) in a room of its own (``self.contexts``)."""
        from hassil.recognize import recognize_all

        clean = " ".join(re.findall(r"[\w%'.-]+", text.lower())).strip(".")
        if intent not in self._one:  # parsing against that intent's sentences only: the same
            # parses, 2-10x sooner than against all 42 (on a live answer's path: 3-60 ms saved)
            self._one[intent] = replace(self.intents, intents={intent: self.intents.intents[intent]})
        best = None
        for context in self.contexts[intent]:
            if best is not None and "name" in best.entities:
                break  # parsed as said, naming a device: taken
            for r in recognize_all(clean, self._one[intent], slot_lists=self.lists, intent_context=context):
                # Free text that is a number or one of the home's names is not free text ("cancel
                # the kitchen timer" names no timer "kitchen"): that parse is not taken.
                if r.intent.name != intent or any(e.is_wildcard and not self._free(e.text)
                                                  for e in r.entities.values()):
                    continue
                # A parse that names a device (not only a class of them), then the one naming most.
                if best is None or _rank(r) > _rank(best):
                    best = r
        if best is None:
            return None
        out = {k: _plain(e.value) for k, e in best.entities.items() if e.value != HERE_AREA}
        return {k: v for k, v in out.items() if v is not None}

    def _free(self, text: str) -> bool:
        words = words_of(text)
        while words and words[0] in ("the", "my", "our", "a", "an", "this", "that"):
            words = words[1:]
        return (not any(c.isdigit() for w in words for c in w) and " ".join(words) not in self.names
                and not set(words) <= GENERIC)

    def _tolerant(self, words: list[str], intent: str) -> dict[str, Value]:
        takes = self.takes[intent]
        out: dict[str, Value] = {}
        # A number inside one of the home's names ("bedroom 2") is the name's, not a value.
        said = _said(words)  # (once: every phrase is looked for in them)
        names = {i for lists in takes.values() for name in lists if name in HOME_LISTS
                 for p in self.phrases[name] if any(w.isdigit() for w in p.words)
                 and (m := self._find(words, p, said)) is not None and m[0] == 100.0 for i in m[1]}
        taken = set(names)
        self._numbers(words, takes, taken, out)  # first: "volume down by 5" is -5, not "down"
        used = taken - names
        found: list[tuple[float, int, bool, str, Value, range]] = []
        for slot, lists in takes.items():
            for p in (p for name in lists for p in self.phrases[name]):
                if (m := self._find(words, p, said)) is not None:
                    found.append((m[0], len(p.words), p.tolerant, slot, p.value, m[1]))
        # Most words matched (closeness times length: "rolla blinds" is the roller blinds, not a
        # blind), then the closest, then the home's own name ("curtains" the device before
        # "curtain" the cover class), then the earlier.
        for *_, slot, value, span in sorted(found, key=lambda f: (-f[0] * f[1], -f[0], not f[2],
                                                                  f[5].start)):
            if slot not in out and not used.intersection(span):
                out[slot] = value
                used.update(span)
        if intent in self.free_name and "name" not in out:
            self._named(words, used, out)
        return out

    def _named(self, words: list[str], used: set[int], out: dict[str, Value]) -> None:
        """A free-text name the words give as such, as hassil's templates do: "... 18 seconds
        called laundry" ("called" or "named"), "the tea timer" ("the" or "my")."""
        for i, w in enumerate(words[:-1]):
            if w in ("called", "named") and i + 1 not in used:
                j = i + 1
                while (j < len(words) and j - i <= 3 and words[j] not in NAME_ENDS
                       and _number(words[j]) is None):
                    j += 1
                if j > i + 1 and self._free(" ".join(words[i + 1:j])):
                    out["name"] = " ".join(words[i + 1:j])
                    return
        for j in (j for j, w in enumerate(words) if w == "timer"):
            # the one to three words between "the" or "my" and "timer"
            k = next((k for k in range(j - 2, max(j - 5, -1), -1) if words[k] in ("the", "my")), None)
            name = " ".join(words[k + 1:j]) if k is not None else ""
            if name and not used.intersection(range(k + 1, j)) and self._free(name):
                out["name"] = name
                return

    def _find(self, words: list[str], p: _Phrase, said: list[str]) -> tuple[float, range] | None:
        """The best-matching span of ``words`` (``said``: as :func:`_said` spells them) for
        phrase ``p`` (score 0-100), if close enough."""
        target = " ".join(p.words)
        exact_only = not p.tolerant or len(target) < 4  # "tv", "on": a near miss is another word
        said_target = "" if exact_only else p.sounds
        best: tuple[float, range] | None = None
        n = len(p.words)
        for size in ((n,) if exact_only else (n - 1, n, n + 1)):
            for i in range(len(words) - size + 1 if size > 0 else 0):
                heard = " ".join(words[i:i + size])
                score = 100.0 if heard == target else (
                    0.0 if exact_only else fuzz.ratio(" ".join(said[i:i + size]), said_target))
                if score >= (100.0 if exact_only else self.home.match) and (best is None or score > best[0]):
                    best = (score, range(i, i + size))
        return best

    def _numbers(self, words: list[str], takes: dict[str, list[str]], used: set[int],
                 out: dict[str, Value]) -> None:
        """Numbers to the intent's numeric slots: by the unit after them, else in template order;
        a half ("5 and a half minutes", "half an hour") is 30 of the next smaller time unit.
        Numbers whose unit fits a slot go first: Whisper writes a stutter as "4-4-19 percent",
        whose value is the 19 (the 4s are left to a name: "ground 4", the ground floor), and in
        "10% of the lamps to 40 degrees" the temperature is the 40."""
        ranges = {s: [r for name in lists if (r := self._range(name)) is not None]
                  for s, lists in takes.items()}
        down = bool(DOWN.intersection(words))
        for fitting in (True, False):
            for i, w in enumerate(words):
                half_alone = w == "half" and (i == 0 or _number(words[i - 1]) is None)
                if i in used or ((x := _number(w)) is None and not half_alone):
                    continue
                unit, half = _unit_after(words, i)
                if unit in TIME_UNITS and isinstance(x, float):
                    x, half = _duration(w, half)
                numeric = [s for s, r in ranges.items() if s not in out and x is not None
                           and any(r.start <= x <= r.stop for r in r)]  # 7000 is no brightness
                by_unit = [s for s in numeric if (unit in TIME_UNITS and s.endswith(unit + "s"))
                           or any(r.name.startswith(UNITS.get(unit, ("-",))) for r in ranges[s])]
                if fitting != bool(by_unit or (half and unit in TIME_UNITS[:2])):
                    continue
                if half and unit in TIME_UNITS[:2]:
                    smaller = TIME_UNITS[TIME_UNITS.index(unit) + 1] + "s"
                    if (slot := next((s for s in ranges if s.endswith(smaller) and s not in out), None)):
                        out[slot] = 30
                if x is None:
                    used.add(i)
                    continue
                if unit in TIME_UNITS:  # the timer's own duration, or the change to it
                    by_unit.sort(key=lambda s: s.startswith("start_") != _names_timer(words, i))
                untimed = [s for s in numeric if not s.endswith(tuple(u + "s" for u in TIME_UNITS))]
                if slot := next(iter(by_unit or untimed), None):
                    # A list that counts down ("volume down by 5": -5) when the words say down.
                    sign = next((r.multiplier for r in ranges[slot] if down and (r.multiplier or 0) < 0), 1)
                    out[slot] = _plain(x * sign)
                    used.add(i)

    def _range(self, list_name: str):
        from hassil.intents import RangeSlotList

        sl = self.lists.get(list_name)
        return sl if isinstance(sl, RangeSlotList) else None


_FILLERS: dict[str, SlotFiller] = {}


def filler(home: HomeConfig) -> SlotFiller:
    """One filler per home in a process (hassil's templates take ~0.3 s to load and walk)."""
    key = repr(home)
    if key not in _FILLERS:
        _FILLERS[key] = SlotFiller(home)
    return _FILLERS[key]


def _domains(intent) -> list[str]:
    """The device domains an intent's sentences require (hassil's ``requires_context``)."""
    out: set[str] = set()
    for data in intent.data:
        d = (data.requires_context or {}).get("domain")
        out |= set(d if isinstance(d, list) else [d] if d else [])
    return sorted(out)


def _rank(result) -> tuple[bool, int]:
    """A parse naming a device first, then the one with most slots said (not the placeholder room)."""
    return "name" in result.entities, sum(e.value != HERE_AREA for e in result.entities.values())


def same(expected: Value, got: Value | None) -> bool:
    """Whether a predicted slot value is the labelled one (numbers as numbers, words as words)."""
    if got is None:
        return False
    if isinstance(expected, (int, float)) or isinstance(got, (int, float)):
        a, b = _number(str(expected)), _number(str(got))
        return a is not None and b is not None and abs(a - b) < 1e-6
    return " ".join(words_of(str(expected))) == " ".join(words_of(str(got)))


def recovery(per_template: int = 1, seed: int = 3, home: HomeConfig | None = None) -> tuple[int, int]:
    """(sentences whose labelled slots were all found, sentences with slots) over hassil's
    sentences sampled from every template, clean words: the filler's own ceiling."""
    f = filler(home or HomeConfig())
    ex = [e for e in hi.corpus(per_template=per_template, seed=seed, home=f.home) if e.slots]
    right = sum(all(same(v, f.fill(e.text, e.intent).get(k)) for k, v in e.slots) for e in ex)
    return right, len(ex)


if __name__ == "__main__":  # python -m stream.intent.slots: the recovery figure in the README
    r, n = recovery()
    print(f"slots recovered from clean sampled sentences: {r}/{n} = {r / n:.3f}")
