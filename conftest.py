"""Collection rules shared by the whole suite."""

collect_ignore_glob = ["triton_models/templates/*", ".venv/*", "var/*"]
