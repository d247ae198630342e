"""Bootstrap steps, one concern per module. Each looks (read-only ``check``) before it acts."""
