"""The embedded runtime: a local broker (tansu) and tritonserver as supervised child processes.

Each child runs in its own process group, logs to a file, binds 127.0.0.1 only and
is stopped at interpreter exit if nobody stopped it before (see :mod:`.process`).
"""
