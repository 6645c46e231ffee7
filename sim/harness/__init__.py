"""The scenario harness: from a scenario file to a judged run, and from one run to a swarm.

``scenario``/``scenario_file`` (what a file may say, read with every error located),
``cohorts`` and ``distributions`` (who is compared, what is drawn), ``runner`` (a world built,
run and handed back), ``invariants``, ``liveness`` and ``expectations`` (what must hold),
``fault_catalogue`` (what faults a scenario may ask for), ``swarm*`` (many seeds, storms,
shrinking) and ``schema_header`` (the schema line of a written scenario).
"""
