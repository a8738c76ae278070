"""Loading: valid rows go to session-private staging tables, then into the target tables in one set-based step per table, stamped with the batch id."""
