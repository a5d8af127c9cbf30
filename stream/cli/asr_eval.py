"""``asr-eval SESSION...``: word error rate of the streaming recogniser against whole-utterance
decoding of the same audio, per voice and per session (see :mod:`stream.offline.asr_eval`)."""

from __future__ import annotations

import argparse
import json

from stream.cli.common import add_common, load_config, open_session


def add(sub) -> None:
    sp = sub.add_parser("asr-eval", help="word error rate: streaming path vs whole utterances")
    add_common(sp)
    sp.add_argument("sessions", nargs="+", help="sessions with reference transcripts (speech.jsonl)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--show", action="store_true",
                    help="every utterance either path got wrong, transcripts side by side")
    sp.set_defaults(fn=run)


def _rows(title: str, first: str, rates: dict):
    from rich.table import Table

    t = Table(title=title)
    for c in (first, "utterances", "WER streaming", "WER whole", "streaming vs whole"):
        t.add_column(c)
    for k, r in rates.items():
        gap = r["stream_vs_whole"]
        t.add_row(k, str(r["utterances"]), str(r["wer_stream"]), str(r["wer_whole"]),
                  "–" if gap is None else f"{gap:+.0%}")
    return t


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from stream.offline.asr_eval import evaluate

    cfg = load_config(args)
    sessions = [open_session(p) for p in args.sessions]  # every path checked before any work
    con = Console(stderr=args.json)
    report = evaluate(sessions, cfg, log=lambda s: con.print(s, style="dim"))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    con.print(_rows("word error rate by voice", "voice", report["voices"]))
    con.print(_rows("by session", "session", report["sessions"]))
    con.print(_rows("overall", "", {"all": report["overall"]}))
    con.print(f"finals over no reference utterance (insertions): {report['overall']['insertions']}")
    if args.show:
        from stream.offline.asr_eval import normaliser

        norm = normaliser()
        for u in report["utterances"]:
            if not norm(u["ref"]) == norm(u["stream"]) == norm(u["whole"]):
                con.print(f"[bold]{u['session']} {u['start']:.1f}s {u['voice']}[/]\n"
                          f"  said:      {u['ref']}\n  streaming: {u['stream']}\n  whole:     {u['whole']}",
                          highlight=False)
    return 0
