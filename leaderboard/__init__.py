"""What the Space shows and accepts: the table, plot, model detail, submission checks, queue, log and about pages.

Everything here except `ui.py`, `data.py`, `inspection.py` and `scheduler.py` is pure: functions of records and
typed dataclasses, unit-tested without a server. `app.py` wires config, store, UI and scheduler together.
"""
