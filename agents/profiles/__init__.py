"""Omni-channel user profiles: a frozen value per ``user_id``, replaced by pure update functions."""
