"""``devices``: list cameras and microphones (or say plainly that there are none)."""

from __future__ import annotations

import argparse


def add(sub) -> None:
    sp = sub.add_parser("devices", help="list cameras and microphones")
    sp.set_defaults(fn=run)


def _list(con, title: str, items: list[tuple[int, str]]) -> None:
    con.print(f"[bold]{title}[/bold]")
    for i, n in items:
        con.print(f"  {i}: {n}")
    if not items:
        con.print("  none found")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from stream.sources.audio import microphones
    from stream.sources.base import DeviceError
    from stream.sources.video import camera_names

    con = Console()
    _list(con, "Cameras", camera_names())
    try:
        mics = microphones(details=True)
    except DeviceError as e:
        con.print("[bold]Microphones[/bold]")
        con.print(f"  {e}")
    else:  # opened at their own rate and channels, converted to 16 kHz mono
        _list(con, "Microphones", [(i, f"{n}  ({rate} Hz, {ch} ch)") for i, n, rate, ch in mics])
    return 0
