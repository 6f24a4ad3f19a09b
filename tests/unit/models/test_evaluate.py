"""The recipe's held-out evaluation runs on the server's own decoding and scores sensibly."""

from __future__ import annotations

from copilot.models import DEFAULT_MODEL_PATH
from copilot.models.recipe.evaluate import evaluate


def test_evaluation_scores_the_default_model() -> None:
    result = evaluate(DEFAULT_MODEL_PATH, samples=12, seed=3)
    for mode in ("any_point", "word_start"):
        scores = result[mode]
        assert 0.0 <= scores["exact_match"] <= 1.0
        assert 0.0 < scores["edit_similarity"] <= 1.0  # the trained model writes code-shaped text
        assert scores["examples"]
