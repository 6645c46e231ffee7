"""The Comparative Judgement side of the engine."""
