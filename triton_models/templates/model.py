"""Triton python-backend model: ``FEATURES`` float32[rows, D] → ``PROBA`` float32[rows, 1].

Copied into every version directory. It only moves tensors: scoring lives in
:class:`triton_models.serving.ModelScorer`, imported from the venv that runs the stub
(the server starts with the venv's ``bin`` first on ``PATH``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import triton_python_backend_utils as pb_utils

from agents.features import FEATURES_TENSOR, PROBA_TENSOR
from triton_models.serving import ModelScorer

INTRA_OP_THREADS = 1


class TritonPythonModel:
    """One instance per model instance; the weights come from this version's directory."""

    def initialize(self, args: dict[str, str]) -> None:
        torch.set_num_threads(INTRA_OP_THREADS)
        self.model_name = args["model_name"]
        self.scorer = ModelScorer(Path(args["model_repository"]) / args["model_version"])

    def execute(self, requests: list[Any]) -> list[Any]:
        scored = self.scorer.score_batches([self._features(request) for request in requests])
        responses = []
        for result in scored:
            if isinstance(result, Exception):
                error = pb_utils.TritonError(f"{self.model_name}: {result}")
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
            else:
                responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(PROBA_TENSOR, result)]))
        return responses

    def _features(self, request: Any) -> np.ndarray | Exception:
        tensor = pb_utils.get_input_tensor_by_name(request, FEATURES_TENSOR)
        if tensor is None:
            return ValueError(f"missing input {FEATURES_TENSOR}")
        return tensor.as_numpy()

    def finalize(self) -> None:
        self.scorer = None
