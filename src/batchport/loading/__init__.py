"""Loading: rows go to session-private staging tables, then into the target tables in one
set-based statement per table, each row stamped with the batch id.
"""
