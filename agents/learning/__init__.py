"""Online learning: label joins, river learners, progressive validation and drift detection (no I/O)."""
