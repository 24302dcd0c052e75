"""The README and docs/ name only files that exist, and the layout names every benchmark and doc.

A README that cites a file the repository does not have (a design note, a renamed test) sends a newcomer
nowhere; these checks keep the front door honest as files move.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A backticked repository path: a top-level folder of ours, then a file name.
REPO_PATH = re.compile(r"`((?:stacks|lambdas|hubspoke|tests|benchmarks|examples|docs)/[A-Za-z0-9_./-]+\.[a-z]+)`")
# A document cited by bare name ("DESIGN.md measured ..."): it must be one of ours, at the top or in docs/.
BARE_DOC = re.compile(r"(?<![/\w.-])([A-Z][A-Z_-]*\.md)\b")
LINK = re.compile(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)")
# Files a run creates, not files of the repository.
GENERATED = ("cdk.out/", ".hubspoke/")


def test_every_file_the_docs_name_exists():
    missing = []
    for doc in DOCS:
        text = doc.read_text()
        for path in REPO_PATH.findall(text):
            if not (ROOT / path).exists():
                missing.append(f"{doc.name}: {path}")
        for name in BARE_DOC.findall(text):
            if not (ROOT / name).exists() and not (ROOT / "docs" / name).exists():
                missing.append(f"{doc.name}: {name}")
        for link in LINK.findall(text):
            if not link.startswith(GENERATED) and not (doc.parent / link).exists():
                missing.append(f"{doc.name}: link {link}")
    assert missing == []


def test_the_layout_names_every_benchmark_and_doc():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    unnamed = [p.name for p in [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "docs").glob("*.md")]
               if p.name not in layout and p.stem not in layout]  # fmt: skip
    assert unnamed == []


def test_the_metrics_the_readme_lists_are_the_ones_summarize_emits():
    # The run metrics a dashboard or alarm is built on, as the monitoring requirement names them.
    readme = (ROOT / "README.md").read_text()
    summarize = (ROOT / "lambdas" / "summarize" / "logic.py").read_text()
    for metric in ("RunTargets", "SpokesSucceeded", "SpokesFailed", "RunLost", "RunFailureRate"):
        assert f"`{metric}`" in readme, metric
        assert f'"{metric}"' in summarize, metric
    for retired in ("RunSucceeded`", "`RunFailed`, `RunLost`"):
        assert retired not in readme
