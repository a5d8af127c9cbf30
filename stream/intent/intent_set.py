"""The English Home Assistant intents, and sentences sampled from their templates.

``home-assistant-intents`` holds ~860 sentence templates for 42 intents;
``hassil`` parses them. Exhaustive expansion explodes (ranges, lists), so
:func:`corpus` draws a few random sentences per template. Each example keeps
its template id, so train and test can be split by template: the test set
then measures generalisation to unseen phrasings, not memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hassil import Intents

    from stream.config import HomeConfig

NONE = "none"

# Free text in Home Assistant (wildcards); we supply plausible values.
WILDCARDS = {
    "message": ["dinner is ready", "the car is here", "time to leave", "please come downstairs"],
    "search_query": ["jazz", "the beatles", "relaxing piano music", "the latest news podcast"],
    "shopping_list_item": ["milk", "eggs", "bread", "apples", "coffee beans", "batteries"],
    "todo_list_item": ["call mom", "pay the bills", "water the plants", "book a dentist"],
    "timer_name": ["pasta", "pizza", "laundry", "tea"],
}
Slots = dict[str, "str | int | float"]


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    template: str  # "<intent>/<data index>/<sentence index>"
    slots: tuple[tuple[str, str | int | float], ...] = ()  # what the sentence names, in order


def load() -> Intents:
    # hassil is imported here, not at the top: predicting needs only NONE and the names.
    import home_assistant_intents
    from hassil import Intents

    return Intents.from_dict(home_assistant_intents.get_intents("en"))


def names(intents: Intents | None = None) -> list[str]:
    """Intent labels the model knows: ``none`` first, then the HA intents, sorted."""
    return [NONE, *sorted((intents or load()).intents)]


def slot_lists(intents: Intents, home: HomeConfig | None = None, samples: bool = True) -> dict:
    """Home Assistant's lists with the home's own names filled in, and (``samples``: for the
    corpus's sentences) plausible values for its free-text wildcards."""
    from hassil.intents import TextSlotList

    from stream.config import HomeConfig

    home = home or HomeConfig()
    lists = dict(intents.slot_lists)
    lists["area"] = TextSlotList.from_strings(home.areas)
    lists["floor"] = TextSlotList.from_strings(home.floors)
    lists["name"] = TextSlotList.from_strings(list(home.devices))
    lists["zone"] = TextSlotList.from_strings(home.zones)
    for k, v in WILDCARDS.items() if samples else ():
        lists[k] = TextSlotList.from_strings(v)
    return lists


def _sample(expr, rng: random.Random, lists: dict, rules: dict, slots: dict | None = None) -> str:
    """One random sentence from a hassil expression; ``slots`` gets the list values it names."""
    from hassil.expression import (
        Alternative,
        Group,
        ListReference,
        Permutation,
        RuleReference,
        Sequence,
        TextChunk,
    )
    from hassil.intents import RangeSlotList, TextSlotList, WildcardSlotList

    slots = {} if slots is None else slots
    if isinstance(expr, TextChunk):
        return expr.original_text
    if isinstance(expr, Alternative):
        return _sample(rng.choice(expr.items), rng, lists, rules, slots)
    if isinstance(expr, Permutation):
        items = list(expr.items)
        rng.shuffle(items)
        return " ".join(_sample(i, rng, lists, rules, slots) for i in items)
    if isinstance(expr, (Sequence, Group)):
        return "".join(_sample(i, rng, lists, rules, slots) for i in expr.items)
    if isinstance(expr, RuleReference):
        return _sample(rules[expr.rule_name].expression, rng, lists, rules, slots)
    if isinstance(expr, ListReference):
        sl = lists.get(expr.list_name)
        if isinstance(sl, TextSlotList) and sl.values:
            value = rng.choice(sl.values)
            text = _sample(value.text_in, rng, lists, rules, slots)
            slots[expr.slot_name] = text if value.value_out is None else value.value_out
            return text
        if isinstance(sl, RangeSlotList):
            n = rng.choice(list(sl.get_numbers()))
            slots[expr.slot_name] = n * int(sl.multiplier) if sl.multiplier else n  # "down 5": -5
            return str(n)
        if isinstance(sl, WildcardSlotList) or sl is None:
            return rng.choice(WILDCARDS.get(expr.list_name, ["something"]))
        return expr.list_name
    raise ValueError(f"unexpected hassil expression {expr!r}")


def corpus(per_template: int = 6, seed: int = 0, intents: Intents | None = None,
           home: HomeConfig | None = None) -> list[Example]:
    """Distinct random sentences, ``per_template`` (at most) from each template, with the slots
    each names (a slot the template fixes, like a light's domain, is not said, so not listed)."""
    from hassil.util import normalize_whitespace

    intents = intents or load()
    rng = random.Random(seed)
    lists = slot_lists(intents, home)
    out: list[Example] = []
    for name in sorted(intents.intents):
        for di, data in enumerate(intents.intents[name].data):
            rules = {**intents.expansion_rules, **(data.expansion_rules or {})}
            for si, sentence in enumerate(data.sentences):
                seen: dict[str, tuple] = {}
                for _ in range(per_template * 4):
                    slots: dict = {}
                    text = normalize_whitespace(_sample(sentence.expression, rng, lists, rules, slots))
                    text = text.strip()
                    if text and text not in seen:
                        seen[text] = tuple(slots.items())
                    if len(seen) >= per_template:
                        break
                out.extend(Example(t, name, f"{name}/{di}/{si}", seen[t]) for t in sorted(seen))
    return out


def one_per_intent(intents: Intents, home: HomeConfig | None = None, seed: int = 0) -> dict[str, str]:
    """A sentence of each intent, from its first template (what warms a parser up)."""
    from hassil.util import normalize_whitespace

    rng, lists, out = random.Random(seed), slot_lists(intents, home), {}
    for name in sorted(intents.intents):
        data = intents.intents[name].data[0]
        rules = {**intents.expansion_rules, **(data.expansion_rules or {})}
        out[name] = normalize_whitespace(_sample(data.sentences[0].expression, rng, lists, rules, {})).strip()
    return out


def template_slots(intents: Intents | None = None) -> dict[str, dict[str, list[str]]]:
    """Per intent, the slots its sentences can name: slot name -> the lists its values come from
    (a brightness is a number or "maximum")."""
    from hassil.expression import ListReference

    intents = intents or load()
    out: dict[str, dict[str, list[str]]] = {}

    def walk(expr, rules: dict, found: dict, seen: set) -> None:
        if isinstance(expr, ListReference) and expr.list_name not in found.setdefault(expr.slot_name, []):
            found[expr.slot_name].append(expr.list_name)
        name = getattr(expr, "rule_name", None)
        if name is not None and name in rules and name not in seen:
            seen.add(name)
            walk(rules[name].expression, rules, found, seen)
        for item in getattr(expr, "items", ()):
            walk(item, rules, found, seen)

    for name, intent in intents.intents.items():
        found: dict[str, list[str]] = {}
        for data in intent.data:
            rules = {**intents.expansion_rules, **(data.expansion_rules or {})}
            for sentence in data.sentences:
                walk(sentence.expression, rules, found, set())
        out[name] = found
    return out


def split_by_template(examples: list[Example], test_frac: float = 0.2,
                      seed: int = 0) -> tuple[list[Example], list[Example]]:
    """Hold out whole templates (per intent, so every intent appears in both sides)."""
    rng = random.Random(seed)
    by_intent: dict[str, list[str]] = {}
    for ex in examples:
        by_intent.setdefault(ex.intent, [])
        if ex.template not in by_intent[ex.intent]:
            by_intent[ex.intent].append(ex.template)
    held: set[str] = set()
    for templates in by_intent.values():
        if len(templates) < 2:
            continue
        k = max(1, round(len(templates) * test_frac))
        held.update(rng.sample(templates, k))
    return ([e for e in examples if e.template not in held],
            [e for e in examples if e.template in held])
