"""Pure cryptography and matching: bytes in, bytes out, no I/O."""
