"""Running the experiments on a SLURM cluster: one task per unit of work (issue 30)."""
