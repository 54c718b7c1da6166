"""The Textual inspector (`inspector tui STORE`): step through a store's chunks and see each run's errors.

Layout of the package:
    app.py          `InspectorApp`, `make_app` (the factory the command, the demo and the tests use), `run_app`
    data.py         `InspectorData`: the only module that reads the store (cached, thread-safe, no Textual)
    records.py      runs, chunk records and rule verdicts parsed from the engine's metrics JSON (no Textual)
    tensors.py, axes.py, imaging.py   a tensor pair's views, how it is sliced, pooling and quantising (numpy)
    messages.py     what workers post to the UI thread
    commands.py     the command palette provider
    screens/        main screen, help, go-to-chunk and chooser modals
    widgets/        heatmap, legend, cursor read-out, chunk list, tensor bar, plot, contract status, diagnostics
    synthetic.py    a deterministic synthetic store (real store + engine) for tests, the benchmark and trying it
"""
