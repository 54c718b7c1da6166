"""The Textual inspector (`inspector tui STORE`): step through a store's chunks and see each run's errors.

Layout of the package:
    app.py          `InspectorApp`, `make_app` (the factory the command, the demo and the tests use), `run_app`;
                    `make_open_app`: any path (`inspector tui PATH`), converting a reference JSONL as you browse
    opening.py      what a path is, by content (reference JSONL, store, report, summary) and what opening it takes
    conversion.py   the conversion run from the app (a thread driving `store.convert`), its progress messages
    data.py         `InspectorData`: every read the screens make (cached, thread-safe, no Textual); the jobs open
                    their own store handles (a run writes through one opened for appending)
    records.py      runs, chunk records and rule verdicts parsed from the engine's metrics JSON (no Textual)
    tensors.py, axes.py, imaging.py   a tensor pair's views, how it is sliced, pooling and quantising (numpy)
    jobs.py         what the job keys run in workers (no Textual): backend runs through the engine (R), the
                    cache_last_time checks (d), first-diverging-node triage (i), the reproduction bundle (b)
    messages.py     what workers post to the UI thread
    commands.py     the command palette provider
    screens/        main screen, help, go-to-chunk and chooser modals, the run dialog, the triage and bundle
                    dialogs and the full-report modal
    widgets/        heatmap, legend, cursor read-out and chunk info line, chunk list, tensor bar, plot (errors or
                    the state trajectory), contract status (rules, state carried, chunk metadata), diagnostics
    (the synthetic store of the tests and the benchmark, with its test backend, is tests/tui/synthetic.py)
"""
