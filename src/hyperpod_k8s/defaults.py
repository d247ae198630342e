"""Defaults shared by the workflows and the CLI options that show them (kept import-light for --help)."""

# Training pods checkpoint before they exit: minutes, not kubectl's wait-forever (or 0).
DRAIN_TIMEOUT = 15 * 60
# A p5 replacement: new hardware, deep health checks, lifecycle scripts, join.
REPLACE_WAIT = 60 * 60
REBOOT_WAIT = 30 * 60
