"""The workers that take sessions' steps off the queue (`batchport.queueing`) and run them.

    queue.py  on PostgreSQL: procrastinate's worker (`batchport worker`, or one beside the API
              in `batchport serve`), with its upkeep
    steps.py  each step in a process of its own, forked from a helper (the zygote)

On SQLite the server's in-process worker is `service/worker.py`.
"""
