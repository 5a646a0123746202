"""CSV imports: member files uploaded through the admin API, processed asynchronously by a worker.

- `records`: CSV records over a byte stream with the byte offset after each record (checkpoints).
- `members`: header aliases, per-row validation with reason codes, the identify event of a row.
- `model`: the import's status item.
- `uploads`: what the admin API does (check the file up front, store it, start the worker).
- `worker`: what the worker does (scan, process chunks, checkpoint, continue, finish).
"""
