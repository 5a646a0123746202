"""Tracked source links and QR codes (DESIGN.md "Collect": tracked-link clicks; SCENARIOS S1, S5).

A link (`LINK#<code>` in the core table) sends `/r/<code>` to a destination and records each click
as a "Link Clicked" raw event, so the click takes the normal path through the event processor:
the person gets `source:<src>` and the link's tags, and a click from a LINE message (a personal
link with a signed token) counts as LINE engagement of that person.

Modules: `model` (the link and its validation), `tokens` (signed person references for personal
links), `redirect` (the redirect decision and click recording, stdlib only: the redirect function
stays small), `qr` (QR codes with segno, imported by the admin API only).
"""
