"""Agents: ingest, catalog, features, the batched Triton scorer and the decision families."""
