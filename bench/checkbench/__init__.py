"""bench/check.py by concern: population, floors, CPU accounting, cluster, one module per
measurement, report."""
