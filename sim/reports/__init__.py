"""Analysis and reports: a run's outcome tables in DuckDB, ``report.json``, the comparison of
two runs, and the names of the files a run folder holds."""
