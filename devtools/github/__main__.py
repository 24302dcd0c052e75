"""`python -m devtools.github serve ...`: the local GitHub-compatible server."""

from devtools.github.cli import app

app(prog_name="python -m devtools.github")
