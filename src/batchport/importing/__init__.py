"""One file's trip into the database: read, parse, check, load, all in one transaction.

The direct path writes a valid file in one pass, at bulk speed. If it meets anything it cannot
prove valid, its transaction is rolled back and the staged path runs instead: it stages every
row, checks the whole file with set-based SQL and reports every error exactly.

    steps.py     how to read, stage, load and complete (what both imports are made of)
    file.py      one file: the direct path, the staged path, a dry run's precheck
    workbook.py  every sheet of a workbook as one batch
"""

from batchport.importing.file import import_file
from batchport.importing.steps import Finish, ReadOptions
from batchport.importing.workbook import import_workbook
from batchport.progress import Progress

__all__ = ["Finish", "Progress", "ReadOptions", "import_file", "import_workbook"]
