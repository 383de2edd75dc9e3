"""The default models ``make setup`` trained, reused by the tests that judge default training.

``make test`` runs ``make setup`` first, which trains every default model into the settings'
repository (``streamdecide train --if-missing``). A test of "the default training meets its
thresholds" would otherwise train the same models again (about four minutes of CI on two
cores). A version is reused only when its card says it was trained with the given seed and
exactly the current default hyperparameters; anything else (an older repository, a refit,
another seed) makes the test train its own. On a fresh clone, as in CI, setup's models are
always the current code's; a developer's ``var/`` may be older code with the same knobs, so
``make clean`` before judging a change to training itself.
"""

from __future__ import annotations

import json
from typing import Any

from streams.settings import Settings
from triton_models.card import ModelCard
from triton_models.repository import CARD_FILE, read_card

SETUP_VERSION = 1
"""``streamdecide train --if-missing`` writes version 1 into an empty repository."""


def setup_card(model: str, seed: int, hyperparameters: dict[str, Any]) -> ModelCard | None:
    """The card of setup's version of ``model`` when it was trained with ``seed`` and ``hyperparameters``."""
    version_dir = Settings(_env_file=None).repository_dir / model / str(SETUP_VERSION)
    if not (version_dir / CARD_FILE).is_file():
        return None
    card = read_card(version_dir)
    wanted = json.loads(json.dumps(hyperparameters))
    if card.seed != seed or json.loads(json.dumps(card.hyperparameters)) != wanted:
        return None
    return card
