"""The network coordinator: VOPRF evaluation, fan-out, audit."""
