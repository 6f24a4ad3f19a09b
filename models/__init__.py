"""Model files and tools: the embedded default model and the recipe that trains it.

Installed as ``copilot.models`` (see pyproject's package-dir mapping).
"""

from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent / "default"
DEFAULT_MODEL_PATH = DEFAULT_DIR / "copilot-default.gguf"
