"""Privacy: what a person can ask of the brand about their own data (access, erasure, consent)."""
