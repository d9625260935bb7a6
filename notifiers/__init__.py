"""Telling people: channels (Apprise URLs), routing, templates, the durable outbox, dispatch."""
