"""Admin API: one powertools Router per area, composed by functions/admin_api/handler.py."""
