"""What enforcement sees: flagged rows with their evidence, the allow-list, exports, the daily report.

Jobs (jobs/score.py, jobs/export.py, jobs/report.py) only read, gate, write and record;
the rules of the hand-off live here, next to ``scoring/`` which decides scores and tiers.
"""
