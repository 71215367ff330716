"""The owner's web console: a live floor of anonymous dots, the day's report, thresholds, zones
and what-if, served by the standard library's HTTP server (docs/console.md).

It shows coordinates and numbers, never pixels (the one exception is a snapshot for drawing
zones, taken only when the owner clicks for it, sent with ``Cache-Control: no-store`` and never
written to disk). It imports config, vocabulary, offline, behaviour and delivery's status
types; its host (``dwell run``'s service or ``dwell console``) hands it everything else.
"""
