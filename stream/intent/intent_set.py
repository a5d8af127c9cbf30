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

NONE = "none"

# Home Assistant fills these from the user's home; we supply plausible ones.
AREAS = ["kitchen", "living room", "bedroom", "office", "garage", "bathroom", "hallway",
         "dining room", "basement", "garden", "nursery", "study"]
FLOORS = ["ground floor", "first floor", "upstairs", "downstairs", "attic"]
NAMES = ["kitchen lights", "ceiling fan", "desk lamp", "front door", "garage door", "tv",
         "coffee maker", "heater", "porch light", "bedroom blinds", "thermostat", "speaker",
         "air purifier", "reading light", "hallway light", "curtains", "washing machine"]
WILDCARDS = {
    "message": ["dinner is ready", "the car is here", "time to leave", "please come downstairs"],
    "search_query": ["jazz", "the beatles", "relaxing piano music", "the latest news podcast"],
    "shopping_list_item": ["milk", "eggs", "bread", "apples", "coffee beans", "batteries"],
    "todo_list_item": ["call mom", "pay the bills", "water the plants", "book a dentist"],
    "timer_name": ["pasta", "pizza", "laundry", "tea"],
}


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    template: str  # "<intent>/<data index>/<sentence index>"


def load() -> Intents:
    # hassil is imported here, not at the top: predicting needs only NONE and the names.
    import home_assistant_intents
    from hassil import Intents

    return Intents.from_dict(home_assistant_intents.get_intents("en"))


def names(intents: Intents | None = None) -> list[str]:
    """Intent labels the model knows: ``none`` first, then the HA intents, sorted."""
    return [NONE, *sorted((intents or load()).intents)]


def _slot_lists(intents: Intents) -> dict:
    from hassil.intents import TextSlotList

    lists = dict(intents.slot_lists)
    lists["area"] = TextSlotList.from_strings(AREAS)
    lists["floor"] = TextSlotList.from_strings(FLOORS)
    lists["name"] = TextSlotList.from_strings(NAMES)
    for k, v in WILDCARDS.items():
        lists[k] = TextSlotList.from_strings(v)
    return lists


def _sample(expr, rng: random.Random, lists: dict, rules: dict) -> str:
    """One random sentence from a hassil expression."""
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

    if isinstance(expr, TextChunk):
        return expr.original_text
    if isinstance(expr, Alternative):
        return _sample(rng.choice(expr.items), rng, lists, rules)
    if isinstance(expr, Permutation):
        items = list(expr.items)
        rng.shuffle(items)
        return " ".join(_sample(i, rng, lists, rules) for i in items)
    if isinstance(expr, (Sequence, Group)):
        return "".join(_sample(i, rng, lists, rules) for i in expr.items)
    if isinstance(expr, RuleReference):
        return _sample(rules[expr.rule_name].expression, rng, lists, rules)
    if isinstance(expr, ListReference):
        sl = lists.get(expr.list_name)
        if isinstance(sl, TextSlotList) and sl.values:
            return _sample(rng.choice(sl.values).text_in, rng, lists, rules)
        if isinstance(sl, RangeSlotList):
            return str(rng.choice(list(sl.get_numbers())))
        if isinstance(sl, WildcardSlotList) or sl is None:
            return rng.choice(WILDCARDS.get(expr.list_name, ["something"]))
        return expr.list_name
    raise ValueError(f"unexpected hassil expression {expr!r}")


def corpus(per_template: int = 6, seed: int = 0, intents: Intents | None = None) -> list[Example]:
    """Distinct random sentences, ``per_template`` (at most) from each template."""
    from hassil.util import normalize_whitespace

    intents = intents or load()
    rng = random.Random(seed)
    lists = _slot_lists(intents)
    out: list[Example] = []
    for name in sorted(intents.intents):
        for di, data in enumerate(intents.intents[name].data):
            rules = {**intents.expansion_rules, **(data.expansion_rules or {})}
            for si, sentence in enumerate(data.sentences):
                seen: set[str] = set()
                for _ in range(per_template * 4):
                    text = normalize_whitespace(_sample(sentence.expression, rng, lists, rules))
                    text = text.strip()
                    if text and text not in seen:
                        seen.add(text)
                    if len(seen) >= per_template:
                        break
                out.extend(Example(t, name, f"{name}/{di}/{si}") for t in sorted(seen))
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
