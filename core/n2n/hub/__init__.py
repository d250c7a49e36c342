"""Weights on disk, expert checkpoints, bridge files and model cards, the Hub and the zoo: everything
n2n reads or writes. Below the contracts: nothing here imports a strategy, an expert or a bridge."""
