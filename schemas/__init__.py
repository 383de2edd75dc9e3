"""Schemas: pydantic v2 models of every message in the contract, their codec and JSON Schema export."""
