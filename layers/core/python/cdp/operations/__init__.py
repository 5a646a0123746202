"""Operations: what an operator runs when something went wrong (dead letters and their replay)."""
