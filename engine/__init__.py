"""cjsim's engine: the production logic of a Comparative Judgement essay pipeline.

It imports nothing from ``sim``. Time, storage, messaging, model calls and the event log reach it
through the ports in ``engine.ports``.
"""
