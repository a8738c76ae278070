"""`python -m batchport`: the same command as the `batchport` console script."""

from batchport.cli import main

main()
