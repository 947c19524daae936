"""gradsub: policy-gradient subspaces, reproduced."""

# The networks of an agent whose losses are analysed (the paper, Section 2: the actor's and the
# critic's losses of PPO and SAC). Kept at the package root, which imports nothing, so that every
# room can read it: the losses and the analysis, and the result tables' schema, which must stay free
# of torch for the book.
NETWORKS = ("actor", "critic")
