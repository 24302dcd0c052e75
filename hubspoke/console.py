"""What every command shares: the consoles, exit codes and the bad-input exit."""

from __future__ import annotations

import typer
from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C

err_console = Console(stderr=True)
out_console = Console()


def bad_input(message: str) -> typer.Exit:
    """Print `error: message` on stderr; raise the returned Exit (code 2)."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(EXIT_BAD_INPUT)
