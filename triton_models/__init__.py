"""Training, evaluation and export of the models served by Triton (``ctr``, ``conversion``, ``fraud``)."""
