"""cjsim's harness: the engine in virtual time, under faults, with invariants and analysis."""
