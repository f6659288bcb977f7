"""What a command runs in: the context (root, config, clock, identity) and the output sink."""
