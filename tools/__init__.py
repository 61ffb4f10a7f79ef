"""Command-line tools around the function: the local demo, the backfill and the settings chooser."""
