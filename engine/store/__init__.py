"""Storage: row declarations, store errors, and the SQL store."""
