"""Deciding beyond one check, applied: the service that folds every result through the
rulebook and writes incidents, component status, check states and their notices in one
transaction; what people do by hand (ack, updates); maintenance windows and silences.
The rows and their SQL are `monitor.store`'s; `ledger` maps them to the rulebook's views.
"""
