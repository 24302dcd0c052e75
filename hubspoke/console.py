"""What every command shares: the consoles, exit codes and the bad-input exit."""

from __future__ import annotations

import re

import typer
from rich.console import Console
from rich.text import Text

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C

# Characters a terminal acts on or that disguise text: C0 and C1 controls (ESC starts colour, cursor and title
# sequences; 0x9b is an 8-bit CSI), DEL, zero-width and bidirectional-override characters.
UNSHOWABLE = _UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")

err_console = Console(stderr=True)
out_console = Console()


def bad_input(message: str) -> typer.Exit:
    """Print `error: message` on stderr; raise the returned Exit (code 2)."""
    err_console.print(labelled("error:", "bold red", message))
    return typer.Exit(EXIT_BAD_INPUT)


def shown(value: object, style: str = "") -> Text:
    """Data from targets, sources or AWS (ids, causes, notes) as the terminal shows it: never read as Rich markup
    (an id like `[/x]` would stop the report, `[link=...]` would disguise it), control and bidi characters as
    visible escapes (`\\x1b`), so nothing in the data can move the cursor, recolour or retitle the terminal."""
    return Text(_UNSHOWABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value)), style=style)


def labelled(label: str, style: str, value: object) -> Text:
    """`label value`, the label styled, the value shown as data (see shown)."""
    return Text.assemble((label, style), " ", shown(value))
