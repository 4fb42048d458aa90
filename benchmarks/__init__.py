"""The performance harness: `python -m benchmarks [--quick] [--only NAME] [--runs N] [--json F]`.

Each figure builds its own data in a temporary directory, runs several times next to a
baseline measured in the same run, and reports medians and their ratio. Not tests: nothing
here asserts a target (the CI smoke run only checks that every figure still produces numbers).
"""
