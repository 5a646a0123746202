"""The event names the domain reads: one catalogue, so folding, tag rules, computed traits and
segments agree on them and import them from here instead of from each other."""

from __future__ import annotations

# LINE webhook events, as cdp.events.canonical names them
MESSAGE_RECEIVED = "LINE Message Received"
POSTBACK = "LINE Postback"
LINE_FOLLOWED = "LINE Followed"
ACCOUNT_LINKED = "LINE Account Linked"
# clicks: "Link Clicked" is what the tracked-link redirect records; partners may send either
LINK_CLICKED = "Link Clicked"
LINE_LINK_CLICKED = "LINE Link Clicked"
CLICK_EVENTS = frozenset({LINK_CLICKED, LINE_LINK_CLICKED})
# Segment e-commerce spec
ORDER_COMPLETED = "Order Completed"
# tags as events (cdp.profiles.tags)
TAG_ADDED = "Tag Added"
TAG_REMOVED = "Tag Removed"
# what the send point did with a message (cdp.messaging.send_point)
MESSAGE_SENT = "Message Sent"
MESSAGE_SUPPRESSED = "Message Suppressed"
MESSAGE_FAILED = "Message Failed"
MESSAGE_EVENTS = frozenset({MESSAGE_SENT, MESSAGE_SUPPRESSED, MESSAGE_FAILED})
# what SES reports about an email the send point sent (cdp.messaging.feedback)
EMAIL_DELIVERED = "Email Delivered"
EMAIL_BOUNCED = "Email Bounced"
EMAIL_COMPLAINED = "Email Complained"
EMAIL_OPENED = "Email Opened"
EMAIL_CLICKED = "Email Clicked"
