"""Pure domain: config, gate, ledger, plans and typed actions, trailers, image references.

Nothing here touches the network, a subprocess or the clock.
"""
