"""The KACS token model: domain constants, state, rules and AccessCheck."""
