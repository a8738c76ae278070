"""Checks: proving a file's rows valid against each other and the database before anything
is kept — as they stream (`precheck`, and the direct load's `proof`), or over staging tables
holding the whole file with set-based SQL (`stage`, `staged`), which reports every error.
"""
