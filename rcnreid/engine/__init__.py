"""Training: the epoch loop shared by both trainers (``epoch_loop``), training the Siamese RCN
(``train``), checkpoints (``checkpoint``) and the per-epoch log (``trainlog``)."""
