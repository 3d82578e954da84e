"""The README and docs/ as a newcomer meets them: short, runnable, and linking to what exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


def test_the_readme_is_short_and_opens_with_an_example_and_the_set_up_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) < 15_000
    first_screen = text[: text.index("## Main commands")]
    assert "newsbot ask" in first_screen and "**from June 2 to 4**" in first_screen
    (ci,) = [ln for ln in (REPO / ".ci/run").read_text().splitlines() if "pytest" in ln]
    assert f"    {ci}\n" in first_screen  # the test command is exactly what CI runs
    assert "pip install -e . && .venv/bin/newsbot ingest --sample" in first_screen


def test_every_relative_link_in_the_readme_and_docs_exists():
    for page in [README, *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_no_page_points_a_user_at_a_path_they_do_not_have():
    for page in [README, *(REPO / "docs").glob("*.md")]:
        assert "../shared" not in page.read_text(encoding="utf-8"), page.name
