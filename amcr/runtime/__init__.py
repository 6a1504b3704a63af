"""The parent side: spawning containers, tracking their exits, cleaning up."""
