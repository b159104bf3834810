"""The write side of goals and homework: commands in, events out, no I/O."""
