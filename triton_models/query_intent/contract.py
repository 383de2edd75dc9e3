"""What the served ``query_intent`` model takes and returns; shared by the server side and the client.

Pure constants (no torch, no transformers), so :mod:`agents.intent` can import them cheaply.

One request carries ``TEXT`` (``TYPE_STRING``, shape ``[rows, 1]``: raw UTF-8 queries). The
response has ``CATEGORY_PROBA`` (``TYPE_FP32``, ``[rows, 8]``, in the order of
:data:`schemas.common.CATEGORIES`, rows sum to 1) and ``LANGUAGE`` (``TYPE_STRING``,
``[rows, 1]``: ``en``, ``zh`` or ``es``).
"""

from __future__ import annotations

from typing import Final

MODEL_NAME: Final = "query_intent"
TEXT_TENSOR: Final = "TEXT"
CATEGORY_PROBA_TENSOR: Final = "CATEGORY_PROBA"
LANGUAGE_TENSOR: Final = "LANGUAGE"
INTENT_LANGUAGES: Final[tuple[str, ...]] = ("en", "zh", "es")
"""Languages the model detects, in the order of its language head."""
MAX_BATCH_SIZE: Final = 256
"""``max_batch_size`` of the served model: the most queries one request may carry."""
TEXT_WIDTH: Final = 1
"""One string per row (the card's ``feature_width``)."""
