"""One measurement of ``bench vocab``, run as a script in a child process whose ``copilot`` is
the source tree under test, so an older revision is measured the same way: it uses only
interfaces both sides have.

    python bench/vocab_probe.py TREE MODEL REPEATS  ->  one JSON object on stdout
    python bench/vocab_probe.py --cli TREE ARGS...  ->  ``copilot-lsp ARGS`` from TREE
"""

from __future__ import annotations

import asyncio
import json
import runpy
import statistics
import subprocess
import sys
import time
from pathlib import Path

PREFIX = 'import os\n\n\ndef size(path):\n    """Bytes in the file."""\n    return os.path.getsi'
SUFFIX = "\n\n\nprint(size(__file__))\n"


def use_tree(tree: Path) -> None:
    """Import ``copilot`` from ``tree``. The editable install's finder maps the package names
    to this checkout's folders (pyproject's package-dir; it comes before PYTHONPATH): point
    its mapping at the same folders of ``tree``."""
    finder = next(m for name, m in sys.modules.items() if name.startswith("__editable___copilot_lsp"))
    root = Path(finder.MAPPING["copilot"]).parent
    for name, folder in finder.MAPPING.items():
        finder.MAPPING[name] = str(tree / Path(folder).relative_to(root))
    for folders in finder.NAMESPACES.values():
        folders[:] = [str(tree / Path(folder).relative_to(root)) for folder in folders]
    import copilot

    assert Path(copilot.__file__).is_relative_to(tree), copilot.__file__


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def main(tree: Path, model: Path, repeats: int) -> dict[str, float]:
    use_tree(tree)
    from copilot.config import ModelSettings
    from copilot.inference.engine import open_engine
    from copilot.inference.gguf_info import read_info
    from copilot.inference.jobs import GenerationJob
    from copilot.inference.vocabulary import Vocabulary
    from copilot.prompt.fim import build_fim_prompt

    loads, infos, commands = [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        Vocabulary(model)
        loads.append(time.perf_counter() - started)
        started = time.perf_counter()
        read_info(model)
        infos.append(time.perf_counter() - started)
        started = time.perf_counter()
        command = [sys.executable, __file__, "--cli", str(tree), "models", "info", str(model)]
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        commands.append(time.perf_counter() - started)

    engine = open_engine(model, ModelSettings(n_ctx=512, n_threads=2, kv_slots=1))
    engine.wait_ready()
    vocabulary = engine.vocabulary
    stem = PREFIX.removesuffix("getsi")
    prompt = build_fim_prompt(vocabulary.fim, vocabulary.encode(stem), vocabulary.encode(SUFFIX))

    def first_token(heal: str) -> float:
        """Seconds from the end of the prefill to the first token (where healing works)."""
        generation = asyncio.run(engine.generate(GenerationJob(prompt=prompt, max_tokens=2, heal=heal, owner="d")))
        return generation.first_token_ms / 1000

    # The first mid-word request right after the model is ready, as when a user starts typing at once.
    first_mid_word = first_token("getsi")
    mid_word = [first_token("getsi") for _ in range(repeats)]
    space = [first_token(" ") for _ in range(repeats)]
    plain = [first_token("") for _ in range(repeats)]
    engine.stop()
    return {
        "vocabulary_load_ms": _median_ms(loads),
        "read_info_ms": _median_ms(infos),
        "models_info_command_ms": _median_ms(commands),
        "first_mid_word_first_token_ms": round(first_mid_word * 1000, 2),
        "mid_word_first_token_ms": _median_ms(mid_word),
        "space_anchor_first_token_ms": _median_ms(space),
        "no_anchor_first_token_ms": _median_ms(plain),
    }


if __name__ == "__main__":
    if sys.argv[1] == "--cli":
        use_tree(Path(sys.argv[2]))
        sys.argv = ["copilot-lsp", *sys.argv[3:]]
        runpy.run_module("copilot.lsp", run_name="__main__")
    else:
        print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))))
