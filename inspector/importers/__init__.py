"""Read what other tools wrote and record it as runs: the seed team's parity reports and streaming summaries.

`record.import_file` is the entry point (`inspector import-run`); `reports` and `summaries` parse the two formats,
`judge` applies the contract's acceptance rules to a report whose figures are partly known.
"""
