"""What a new user reads first tells the truth: the README's opening and `make run`'s banner
say the default model is a weak placeholder and give the one command that gets a real one,
and the README's table of model sizes agrees with what `doctor` computes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from copilot.inference.catalogue import models
from copilot.inference.sizing import GIB, memory_needed

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PULL = re.compile(r"copilot-lsp models pull (\S+) && \S*copilot-lsp models use (\S+)")


def opening() -> str:
    return README[: README.index("## Quick start")]


def run_banner() -> str:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\nrun:") :].split("\n\n", 1)[0]
    return " ".join(re.findall(r'@echo "(.*)"', recipe))


@pytest.mark.parametrize("text", [opening(), run_banner()], ids=["README opening", "make run banner"])
def test_the_first_words_say_the_default_is_weak_and_how_to_get_a_real_model(text: str) -> None:
    flat = " ".join(text.split())
    assert "4.5M parameters" in flat
    assert "two CPU cores" in flat
    assert "weak" in flat
    assert "doctor" in flat  # which size suits this machine
    pulled = PULL.search(flat)
    assert pulled is not None, "the command that gets a real model"
    assert pulled.group(1) == pulled.group(2)
    assert pulled.group(1) in models() and not models()[pulled.group(1)].embedded


def test_the_readme_sizes_are_the_ones_doctor_computes() -> None:
    catalogue = models()
    rows = re.findall(r"^\s*\| `([\w.-]+)` \| ([\d.]+) GiB \|", README, re.MULTILINE)
    assert len(rows) >= 4
    for name, gib in rows:
        assert float(gib) == round(memory_needed(catalogue[name], catalogue) / GIB, 1), name
