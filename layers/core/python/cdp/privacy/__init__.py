"""Privacy: what is kept about people, for how long, and how it is exported and erased."""
