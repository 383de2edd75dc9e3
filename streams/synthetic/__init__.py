"""Seeded, reproducible synthetic traffic: a world, its latent truth, and the events it emits."""
