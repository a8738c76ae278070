"""Loading: checked rows into the target tables, each stamped with the batch id — straight
from the stream (`direct`), or from the staging tables (`load`, and `update` for rows already
there).
"""
