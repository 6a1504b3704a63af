"""Thin synchronous wrappers over Linux, one module per kernel feature.

This is the only package that touches ctypes; everything above it speaks
Python types and raises :class:`amcr.errors.KernelError`.
"""
