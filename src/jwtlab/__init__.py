"""jwtlab — the toolkit of the course "JWT in Microservices".

Demo keys (`jwtlab.keys`, demo only), the course clock (`jwtlab.clock`), a hardened verifier
(`verify_token`, raising `TokenRejected` with a stable reason), a service runner (`jwtlab.services`)
and the `jwtlab` command line.
"""

from .verify import KeySet, TokenRejected, verify_token

__all__ = ["KeySet", "TokenRejected", "verify_token"]
__version__ = "0.1.0"
