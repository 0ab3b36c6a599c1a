"""Proposers return proposals (data); they never launch, write records or touch the filesystem.

The interface is in ``base``, the names in ``registry``; this package module imports nothing, so the
experiment file can name a proposer without loading them all.
"""
