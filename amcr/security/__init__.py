"""What a container may do once it runs: seccomp profiles and capability sets.

Pure data and decisions; the kernel calls live in :mod:`amcr.kernel.seccomp`
and :mod:`amcr.kernel.capabilities`.
"""
