"""Hashing from bytes in memory: exact digests, pHash/dHash, PDQ, vPDQ video signatures, hash
lists, the Hamming index and matching. Nothing fetched is written anywhere.

Imports nothing of ours (an import-linter contract): everything else may use it.
"""
