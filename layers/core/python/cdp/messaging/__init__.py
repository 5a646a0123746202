"""Messaging: templates, the one send point, and the providers behind it."""
