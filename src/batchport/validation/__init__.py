"""Validation: cell by cell as rows stream in, then set-based checks against the whole file
and the database.
"""
