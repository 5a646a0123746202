"""LINE, email and SMS message templates: content, validation, personalisation, links, rendering."""
