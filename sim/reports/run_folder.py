"""What a run folder holds, by name: one place for the names every command reads and writes
(``cjsim run`` and ``cjsim live`` write them; ``compare``, ``diff`` and the output-folder rule
read them)."""

from __future__ import annotations

__all__ = [
    "ANALYSIS_FILE",
    "EVENTS_FILE",
    "HTML_FILE",
    "OUTCOMES_FILE",
    "REPORT_FILE",
    "RUN_FILES",
    "SCENARIO_FILE",
]

REPORT_FILE = "report.json"
EVENTS_FILE = "events.jsonl"
OUTCOMES_FILE = "outcomes.duckdb"
ANALYSIS_FILE = "analysis.json"
SCENARIO_FILE = "scenario.json"  # what the run was asked to do (sim/reports/run_description.py)
HTML_FILE = "report.html"  # the run's page, for people
#: Any one of them in a folder means an earlier run wrote there.
RUN_FILES = (REPORT_FILE, EVENTS_FILE, ANALYSIS_FILE, OUTCOMES_FILE, SCENARIO_FILE, HTML_FILE)
