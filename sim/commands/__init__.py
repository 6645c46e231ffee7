"""The ``cjsim`` command line: the entry point (``cli``), its grammar (``cli_parser``), what each
command does (``dispatch`` and the ``*_command`` modules), and where commands may write
(``out_folder``). The only part of the harness that reads the wall clock (``cli``, to time a
run for the user) or reaches the live adapters (``cjsim live``, ``cjsim schema --live``)."""
