"""Privacy: a person's data erased (and suppressed) or exported on request."""
