"""Columns: a file's header matched to an import type's fields, and its cells parsed into
typed columns, a block of rows at a time (the step after `sources`, before `checks`).
"""
