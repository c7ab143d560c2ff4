"""What the calls are about and how they go: conversation measures, trackers and call reasons per call
(stage analytics, after index), and the report over them (docs/INDEX.md, Analytics).

Modules: params (the `analytics:` settings), measures, trackers, reasons, store (analytics.db),
update (the stage's work), report (plot data, headline figures, PNGs), web (the report page).
"""
