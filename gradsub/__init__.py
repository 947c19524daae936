"""gradsub: policy-gradient subspaces, reproduced."""
