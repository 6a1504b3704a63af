"""The terminal multiplexer: a screen model per container and the prompt_toolkit app.

Screen model (no prompt_toolkit, usable headless):
  emulator.py    the Emulator interface and its values (Style, Cell, Run, Cursor, Modes)
  vterm.py       the interface on libvterm through ctypes (_libvterm.py, _cells.py)
  sanitize.py    what libvterm must never see (it crashes or hangs on some bytes)
  fastscroll.py  floods of plain lines without libvterm's per-line cost
  scrollback.py  lines scrolled off the top, bounded, decoded only when shown
  modes.py       input-side terminal modes followed from the output stream
  keys.py        key presses, pastes, mouse and focus events -> bytes for the program

See docs/terminal.md for how they fit together and why libvterm.
"""
