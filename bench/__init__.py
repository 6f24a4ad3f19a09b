"""Benchmarks: ``python -m bench <suite>``. Each suite is a program that writes JSON and a
markdown summary; figures are medians and ratios, with the machine they came from."""
