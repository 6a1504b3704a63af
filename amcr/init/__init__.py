"""The child side, between fork and exec: the steps that make a process a container.

Never imports asyncio: this code runs in a freshly forked copy of the runtime.
"""
