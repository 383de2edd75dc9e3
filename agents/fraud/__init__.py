"""Fraud: chargeback risk → allow / review / block, with reasons."""
